import Generated

/// The run lifecycle (reference-system.md 2.2), declared once as data:
/// 5 transitions x 6 statuses = 30 pairs, 16 allowed.
public enum RunStateMachine {
    public enum Transition: String, CaseIterable, Sendable {
        case start, requestCancel = "request_cancel", finishSucceeded = "finish_succeeded", finishFailed = "finish_failed", finishCanceled = "finish_canceled"
    }
    public typealias Status = RuntimeV1.RuntimeRunStatus
    public static let statuses: [Status] = [.created, .running, .canceling, .canceled, .succeeded, .failed]

    /// (from, transition) -> to, for the 16 allowed pairs.
    public static let allowed: [String: Status] = {
        var t: [String: Status] = [:]
        func allow(_ from: Status, _ tr: Transition, _ to: Status) { t[key(from, tr)] = to }
        for from in [Status.created, .running] {
            allow(from, .start, .running)
            allow(from, .requestCancel, .canceling)
            allow(from, .finishSucceeded, .succeeded)
            allow(from, .finishFailed, .failed)
            allow(from, .finishCanceled, .canceled)
        }
        allow(.canceling, .requestCancel, .canceling)
        allow(.canceling, .finishFailed, .failed)
        allow(.canceling, .finishCanceled, .canceled)
        // Terminal states accept only the same finish again (an idempotent no-op).
        allow(.succeeded, .finishSucceeded, .succeeded)
        allow(.failed, .finishFailed, .failed)
        allow(.canceled, .finishCanceled, .canceled)
        return t
    }()

    static func key(_ s: Status, _ t: Transition) -> String { "\(s.rawValue)|\(t.rawValue)" }

    public static func name(_ s: Status) -> String {
        switch s {
        case .created: return "created"
        case .running: return "running"
        case .canceling: return "canceling"
        case .canceled: return "canceled"
        case .succeeded: return "succeeded"
        case .failed: return "failed"
        default: return "unspecified"
        }
    }

    public enum Problem: Error, Equatable, Sendable {
        case missingFinishStatus
        case unknownFinishStatus(String)
        case invalidTransition(from: String, transition: String)
    }

    /// The transition an event causes: `run.started`, `run.cancel_requested`,
    /// and `run.finished` with `payload.status`; other event types change nothing.
    public static func transition(eventType: String, finishStatus: String?) throws(Problem) -> Transition? {
        switch eventType {
        case "run.started": return .start
        case "run.cancel_requested": return .requestCancel
        case "run.finished":
            guard let s = finishStatus else { throw .missingFinishStatus }
            switch s {
            case "succeeded": return .finishSucceeded
            case "failed": return .finishFailed
            case "canceled", "cancelled": return .finishCanceled
            default: throw .unknownFinishStatus(s)
            }
        default: return nil
        }
    }

    /// The status after `transition`, or the reason it is not allowed.
    public static func apply(_ transition: Transition, to status: Status) throws(Problem) -> Status {
        guard let to = allowed[key(status, transition)] else {
            throw .invalidTransition(from: name(status), transition: transition.rawValue)
        }
        return to
    }
}

/// A topic name as the ACL and the driver read it.
public enum KhalaTopic: Sendable, Equatable, Hashable {
    case run(String)
    case worker(String)
    case fleetUser(String)
    case fleetGuest(String)
    case codexWorkerEvents
    case other(String)

    public init(_ name: String) {
        let p = name.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch p.count {
        case 3 where p[0] == "run" && p[2] == "events" && !p[1].isEmpty: self = .run(p[1])
        case 3 where p[0] == "worker" && p[2] == "lifecycle" && !p[1].isEmpty: self = .worker(p[1])
        case 4 where p[0] == "fleet" && p[1] == "user" && p[3] == "workers" && !p[2].isEmpty: self = .fleetUser(p[2])
        case 4 where p[0] == "fleet" && p[1] == "guest" && p[3] == "workers" && !p[2].isEmpty: self = .fleetGuest(p[2])
        case 1 where name == "runtime.codex_worker_events": self = .codexWorkerEvents
        default: self = .other(name)
        }
    }

    public var name: String {
        switch self {
        case .run(let id): return "run:\(id):events"
        case .worker(let id): return "worker:\(id):lifecycle"
        case .fleetUser(let u): return "fleet:user:\(u):workers"
        case .fleetGuest(let g): return "fleet:guest:\(g):workers"
        case .codexWorkerEvents: return "runtime.codex_worker_events"
        case .other(let n): return n
        }
    }

    public var className: TopicClass.Name {
        switch self {
        case .run: return .runEvents
        case .worker, .fleetUser, .fleetGuest: return .workerLifecycle
        case .codexWorkerEvents: return .codexWorkerEvents
        case .other: return .fallback
        }
    }
}

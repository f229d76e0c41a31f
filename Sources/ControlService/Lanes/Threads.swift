import ProtoWire
import APIRuntime
import Foundation
import Generated
import RuntimeCore

/// Threads and their messages: the caller's conversation index. A thread is
/// created by its first message and belongs to that message's user; another
/// user's thread is 404 (its existence is not disclosed). Appends are
/// idempotent by `idempotency_key` (same content: 200 replay; other: 409).
extension ControlHandler {
    static let threadPage = (default: UInt32(20), max: UInt32(100))
    static let messagePage = (default: UInt32(50), max: UInt32(200))
    static let roles = ["user", "assistant", "system"]

    public func listThreads(_ request: ControlV1.ListThreadsRequest, context: RequestContext) async throws -> APIResponse<ControlV1.ThreadListResponse> {
        let s = try session(context)
        let limit = Int(request.limit ?? ControlHandler.threadPage.default)
        guard (1...Int(ControlHandler.threadPage.max)).contains(limit) else { throw ControlHandler.unprocessable("limit", "must be between 1 and 100") }
        // Newest first by last message, then id; the cursor is the last row's (updated_at, thread_id).
        let all = store.read { st in st.threads.values.filter { $0.ownerUserId == s.userID } }
            .sorted { ($0.updatedAt, $1.threadId) > ($1.updatedAt, $0.threadId) }
        var start = 0
        if !request.cursor.isEmpty {
            guard let raw = Base64URL.decode(request.cursor), let text = String(bytes: raw, encoding: .utf8), let bar = text.firstIndex(of: "|") else {
                throw ControlHandler.unprocessable("cursor", "is not a cursor this service issued")
            }
            let (at, id) = (String(text[..<bar]), String(text[text.index(after: bar)...]))
            start = all.firstIndex { ($0.updatedAt, id) < (at, $0.threadId) } ?? all.count
        }
        let page = Array(all[start..<min(all.count, start + limit)])
        var out = ControlV1.ThreadListResponse()
        out.data = page
        if start + limit < all.count, let last = page.last { out.nextCursor = Base64URL.encode(Array("\(last.updatedAt)|\(last.threadId)".utf8)) }
        return APIResponse(out)
    }

    func ownedThread(_ id: String, _ s: ControlSession, in state: ControlState) throws(APIError) -> ControlV1.ThreadRecord {
        guard let t = state.threads[id], t.ownerUserId == s.userID else { throw .notFound("thread \(id) not found") }
        return t
    }

    public func listThreadMessages(_ request: ControlV1.ListThreadMessagesRequest, context: RequestContext) async throws -> APIResponse<ControlV1.ThreadMessageListResponse> {
        let s = try session(context)
        let limit = Int(request.limit ?? ControlHandler.messagePage.default)
        guard (1...Int(ControlHandler.messagePage.max)).contains(limit) else { throw ControlHandler.unprocessable("limit", "must be between 1 and 200") }
        let after = request.cursor ?? 0
        let (messages, total) = try store.read { st throws(APIError) in
            let t = try ownedThread(request.threadId, s, in: st)
            let all = st.threadMessages[t.threadId] ?? []
            // Seqs are contiguous from 1, so the page starts at index `after`.
            let start = Int(min(after, UInt64(all.count)))
            return (Array(all[start..<min(all.count, start + limit)]), all.count)
        }
        var out = ControlV1.ThreadMessageListResponse()
        out.data = messages
        if let last = messages.last, last.seq < UInt64(total) { out.nextCursor = String(last.seq) }
        return APIResponse(out)
    }

    public func appendThreadMessage(_ request: ControlV1.AppendThreadMessageRequest, context: RequestContext) async throws -> APIResponse<ControlV1.ThreadMessageResponse> {
        let s = try session(context)
        let thread = request.threadId.whitespaceTrimmed
        guard !thread.isEmpty, thread.count <= 128 else { throw ControlHandler.unprocessable("thread_id", "must be 1 to 128 characters") }
        let role = request.role.isEmpty ? "user" : request.role
        guard ControlHandler.roles.contains(role) else { throw ControlHandler.unprocessable("role", "must be user, assistant or system") }
        guard !request.text.isEmpty else { throw ControlHandler.unprocessable("text", "is required") }
        let key = request.idempotencyKey.whitespaceTrimmed
        let now = ControlClock.now()
        let (message, replay) = try await store.commit { state throws(APIError) in
            var entries: [ControlV1.ControlLogRecord.Entry] = []
            if let t = state.threads[thread] {
                guard t.ownerUserId == s.userID else { throw .notFound("thread \(thread) not found") }
                if !key.isEmpty, let seq = state.messageKeys[ControlState.messageKey(thread, key)], let m = state.threadMessages[thread]?[Int(seq - 1)] {
                    guard m.role == role, m.text == request.text else { throw .conflict("idempotency_key \(key) was used for a different message") }
                    return ([], (m, true))
                }
            } else {
                var t = ControlV1.ThreadRecord()
                t.threadId = thread
                t.ownerUserId = s.userID
                t.createdAt = ControlClock.rfc3339(now)
                t.updatedAt = t.createdAt
                entries.append(.threadCreated(t))
            }
            var m = ControlV1.ThreadMessageRecord()
            m.threadId = thread
            m.seq = UInt64(state.threadMessages[thread]?.count ?? 0) + 1
            m.messageId = "msg_" + UUID().uuidString.lowercased()
            m.role = role
            m.text = request.text
            m.idempotencyKey = key
            m.createdAt = ControlClock.rfc3339(now)
            entries.append(.threadMessage(m))
            return (state.records(entries, at: now), (m, false))
        }
        var out = ControlV1.ThreadMessageResponse()
        out.data = message
        out.idempotentReplay = replay
        return APIResponse(out, status: replay ? 200 : nil)
    }
}

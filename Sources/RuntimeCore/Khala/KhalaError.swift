import Generated

/// A refusal of the Khala rules, with every fact its envelope carries; the
/// runtime service maps it to the error envelope in one place.
public struct KhalaError: Error, Sendable, Equatable {
    public var status: Int
    public var code: String
    public var message: String
    public var reasonCode: String?
    public var retryAfterMs: UInt32?
    public var staleCursor: SyncV1.StaleCursorDetails?
    public var slowConsumer: SyncV1.SlowConsumerDetails?

    public init(_ status: Int, _ code: String, _ message: String, reasonCode: String? = nil, retryAfterMs: UInt32? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.reasonCode = reasonCode
        self.retryAfterMs = retryAfterMs
    }

    public static func unauthorized(_ reason: String) -> KhalaError { KhalaError(401, "unauthorized", "khala sync authorization failed", reasonCode: reason) }
    public static func forbiddenTopic(_ topic: String, _ reason: String) -> KhalaError {
        KhalaError(403, "forbidden_topic", "the sync token may not read topic \(topic)", reasonCode: reason)
    }
}

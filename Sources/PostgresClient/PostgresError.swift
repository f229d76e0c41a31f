/// What went wrong, typed: the server's own ErrorResponse (with its
/// SQLSTATE and fields), or a failure of the connection itself.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The server answered ErrorResponse.
        case server
        /// Could not connect, or the connection broke.
        case connection
        /// Authentication failed or is not supported.
        case authentication
        /// The server broke the protocol (a message we cannot read).
        case protocolViolation
        /// The deadline passed.
        case timeout
        /// TLS was required; this client does not speak it.
        case tlsRequired
        /// Skipped: an earlier query of the same pipeline sync group failed.
        case skipped
    }
    public var kind: Kind
    public var message: String
    /// ErrorResponse fields by code (`C` SQLSTATE, `M` message, `D` detail, `n` constraint, ...).
    public var fields: [UInt8: String]

    public init(_ kind: Kind, _ message: String, fields: [UInt8: String] = [:]) {
        self.kind = kind
        self.message = message
        self.fields = fields
    }

    public var sqlState: String? { fields[UInt8(ascii: "C")] }
    public var detail: String? { fields[UInt8(ascii: "D")] }
    public var constraint: String? { fields[UInt8(ascii: "n")] }
    public var severity: String? { fields[UInt8(ascii: "V")] ?? fields[UInt8(ascii: "S")] }

    /// 23505: a unique index refused the row.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// 40001 / 40P01: the transaction may be retried.
    public var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// The server is going away (57P01 admin shutdown, 57P02, 57P03) or the connection is gone.
    public var connectionLost: Bool { kind == .connection || kind == .timeout || ["57P01", "57P02", "57P03"].contains(sqlState ?? "") }

    public var description: String {
        if kind == .server { return "\(severity ?? "ERROR") \(sqlState ?? "?????"): \(message)" + (detail.map { " (\($0))" } ?? "") }
        return "\(kind): \(message)"
    }

    static func server(_ fields: [UInt8: String]) -> PostgresError {
        PostgresError(.server, fields[UInt8(ascii: "M")] ?? "error", fields: fields)
    }
}

import Foundation

/// Where and how to connect: one URL (`postgres://user:password@host:port/db?sslmode=disable`)
/// or the standard `PG*` variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
/// PGDATABASE, PGSSLMODE, PGCONNECT_TIMEOUT). A host beginning with `/` is
/// the directory of the server's Unix socket.
public struct PostgresConfig: Sendable, Equatable {
    /// TLS is not built in: `require` is refused with a clear error (put a
    /// TLS sidecar in front); `prefer` asks and continues in plaintext when
    /// the server says no; `disable` never asks.
    public enum SSLMode: String, Sendable { case disable, prefer, require }

    public var host = "127.0.0.1"
    public var port = 5432
    public var user = "postgres"
    public var password: String?
    public var database = "postgres"
    public var sslMode = SSLMode.prefer
    public var connectTimeout: Double = 5
    /// Each query's deadline on the client side (0: none).
    public var queryTimeout: Double = 30
    public var applicationName = "openagents"
    /// Cleartext password authentication sends the password as it is: refused unless set.
    public var allowCleartextPassword = false

    public init() {}

    public var isUnixSocket: Bool { host.hasPrefix("/") }

    public struct Invalid: Error, CustomStringConvertible { public let description: String }

    /// `postgres://` or `postgresql://`, percent-encoded user and password, `?sslmode=`,
    /// `?connect_timeout=`, `?application_name=`, `?host=/socket/dir`, `?port=` (as libpq reads them).
    public init(url: String) throws {
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw Invalid(description: "\(Self.redacted(url)) is not a postgres:// URL")
        }
        if let h = c.host, !h.isEmpty { host = h == "localhost" ? "127.0.0.1" : h }
        if let p = c.port { port = p }
        if let u = c.user, !u.isEmpty { user = u.removingPercentEncoding ?? u }
        if let pw = c.password { password = pw.removingPercentEncoding ?? pw }
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        database = path.isEmpty ? user : path
        for item in c.queryItems ?? [] {
            let v = item.value ?? ""
            switch item.name {
            case "sslmode":
                switch v {
                case "disable", "allow": sslMode = .disable
                case "prefer": sslMode = .prefer
                case "require", "verify-ca", "verify-full": sslMode = .require
                default: throw Invalid(description: "sslmode=\(v) is not one of disable, prefer, require")
                }
            case "connect_timeout":
                guard let t = Double(v), t > 0 else { throw Invalid(description: "connect_timeout=\(v) is not a positive number of seconds") }
                connectTimeout = t
            case "application_name": applicationName = v
            case "host": host = v
            case "port":
                guard let n = Int(v), (1...65535).contains(n) else { throw Invalid(description: "port=\(v) is not a port") }
                port = n
            default: throw Invalid(description: "\(item.name) is not a connection parameter this client knows")
            }
        }
    }

    /// From `PG*` variables, defaults for the rest.
    public init(environment env: [String: String]) throws {
        if let h = env["PGHOST"], !h.isEmpty { host = h == "localhost" ? "127.0.0.1" : h }
        if let p = env["PGPORT"], !p.isEmpty {
            guard let n = Int(p), (1...65535).contains(n) else { throw Invalid(description: "PGPORT=\(p) is not a port") }
            port = n
        }
        if let u = env["PGUSER"], !u.isEmpty { user = u }
        if let pw = env["PGPASSWORD"] { password = pw }
        database = env["PGDATABASE"].flatMap { $0.isEmpty ? nil : $0 } ?? user
        if let m = env["PGSSLMODE"], !m.isEmpty {
            guard let mode = SSLMode(rawValue: m == "allow" ? "disable" : (m.hasPrefix("verify") ? "require" : m)) else {
                throw Invalid(description: "PGSSLMODE=\(m) is not one of disable, prefer, require")
            }
            sslMode = mode
        }
        if let t = env["PGCONNECT_TIMEOUT"], let n = Double(t), n > 0 { connectTimeout = n }
    }

    /// The URL with its password replaced, for logs and errors.
    public static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url), c.password != nil else { return url }
        c.password = "***"
        return c.string ?? url
    }
}

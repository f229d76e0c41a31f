import Generated
import Synchronization

/// One GitHub-facing operation of the `coding.v1` tool pack.
public struct CodingCall: Sendable, Equatable {
    public var operation: String
    public var repository: String
    public var issueNumber: UInt64
    public var pullNumber: UInt64
    public var body: String
}

public struct CodingProviderError: Error, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// Where `coding.v1` operations run. The service ships the in-repo fake (tests
/// and local use make no network calls); a real GitHub client implements the same.
public protocol CodingProvider: Sendable {
    func perform(_ call: CodingCall) async throws(CodingProviderError) -> GoogleProtobuf.Value
}

/// A deterministic stand-in for GitHub: issues and pull requests exist for any
/// number below 1,000,000 (their content derived from the number); comments
/// posted are kept in memory and listed back. A repository named `…/missing`
/// or a larger number is a provider error ("not found").
public final class FakeCodingProvider: CodingProvider {
    private let comments = Mutex<[String: [String]]>([:])
    public init() {}

    public func perform(_ call: CodingCall) async throws(CodingProviderError) -> GoogleProtobuf.Value {
        let number = call.operation == "get_pull_request" ? call.pullNumber : call.issueNumber
        if call.repository.hasSuffix("/missing") || number >= 1_000_000 {
            throw CodingProviderError("github: \(call.repository)#\(number) not found")
        }
        let key = "\(call.repository)#\(call.issueNumber)"
        let url = JSONValue.string("https://github.com/\(call.repository)/\(call.operation == "get_pull_request" ? "pull" : "issues")/\(number)")
        switch call.operation {
        case "get_issue":
            return JSONValue.object(["number": JSONValue.number(number), "title": JSONValue.string("Issue \(number) of \(call.repository)"),
                                     "state": JSONValue.string(number % 2 == 0 ? "open" : "closed"), "repository": JSONValue.string(call.repository), "url": url])
        case "get_pull_request":
            return JSONValue.object(["number": JSONValue.number(number), "title": JSONValue.string("Pull request \(number) of \(call.repository)"),
                                     "state": JSONValue.string("open"), "merged": JSONValue.bool(false), "repository": JSONValue.string(call.repository), "url": url])
        case "list_issue_comments":
            let list = comments.withLock { $0[key] ?? [] }
            return JSONValue.object(["issue_number": JSONValue.number(call.issueNumber), "comments": JSONValue.array(list.map(JSONValue.string))])
        case "add_issue_comment":
            let count = comments.withLock { c -> Int in c[key, default: []].append(call.body); return c[key]?.count ?? 0 }
            return JSONValue.object(["issue_number": JSONValue.number(call.issueNumber), "comment_id": JSONValue.number(UInt64(number) * 1000 + UInt64(count)),
                                     "body": JSONValue.string(call.body), "url": url])
        default:
            throw CodingProviderError("unsupported operation \(call.operation)")
        }
    }
}

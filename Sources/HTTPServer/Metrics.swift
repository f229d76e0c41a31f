import Foundation
import Synchronization

/// Request counters by route and status, a latency histogram, and gauges
/// for open connections and in-flight requests, in Prometheus text format.
public final class Metrics: Sendable {
    static let bounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
    struct State {
        var requests: [String: Int] = [:]       // "route|method|status"
        var buckets = [Int](repeating: 0, count: Metrics.bounds.count + 1)
        var sum: Double = 0
        var count = 0
    }
    private let state = Mutex(State())
    public let openConnections = Atomic<Int>(0)
    public let inFlight = Atomic<Int>(0)

    public init() {}

    public func record(route: String, method: String, status: Int, seconds: Double) {
        state.withLock { s in
            s.requests["\(route)|\(method)|\(status)", default: 0] += 1
            let i = Metrics.bounds.firstIndex { seconds <= $0 } ?? Metrics.bounds.count
            s.buckets[i] += 1
            s.sum += seconds
            s.count += 1
        }
    }

    public func render() -> String {
        let s = state.withLock { $0 }
        var out = "# HELP http_requests_total Requests served, by route, method and status.\n# TYPE http_requests_total counter\n"
        for (key, n) in s.requests.sorted(by: { $0.key < $1.key }) {
            let p = key.split(separator: "|", omittingEmptySubsequences: false)
            out += "http_requests_total{route=\"\(p[0])\",method=\"\(p[1])\",status=\"\(p[2])\"} \(n)\n"
        }
        out += "# HELP http_request_duration_seconds Request latency.\n# TYPE http_request_duration_seconds histogram\n"
        var cumulative = 0
        for (i, b) in Metrics.bounds.enumerated() {
            cumulative += s.buckets[i]
            out += "http_request_duration_seconds_bucket{le=\"\(b)\"} \(cumulative)\n"
        }
        out += "http_request_duration_seconds_bucket{le=\"+Inf\"} \(s.count)\n"
        out += "http_request_duration_seconds_sum \(s.sum)\nhttp_request_duration_seconds_count \(s.count)\n"
        out += "# HELP http_open_connections Open client connections.\n# TYPE http_open_connections gauge\nhttp_open_connections \(openConnections.load(ordering: .relaxed))\n"
        out += "# HELP http_requests_in_flight Requests being handled.\n# TYPE http_requests_in_flight gauge\nhttp_requests_in_flight \(inFlight.load(ordering: .relaxed))\n"
        return out
    }
}

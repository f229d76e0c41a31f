import CSystem
import Foundation
import Glibc

/// A client exchange run by an event loop, for a handler that calls out
/// while it runs on that loop (the control service's runtime proxy): the
/// socket is nonblocking and in the loop's epoll set, so the call costs no
/// thread hop; the handler resumes on the loop when the answer is parsed.
/// Keep-alive connections stay with the loop, per origin. Loop thread only.
final class LoopExchange {
    enum Phase { case connecting, writing, reading }

    unowned let loop: EventLoop
    let origin: String
    let host: String
    let port: Int
    var fd: Int32
    let request: [UInt8]
    let headOnly: Bool
    let deadline: Double
    var phase: Phase
    var written = 0
    var parser: ResponseParser
    /// A pooled connection the server may have closed meanwhile: one retry on a fresh one.
    var reused: Bool
    let done: (Result<HTTPClient.Response, Error>) -> Void

    init(loop: EventLoop, host: String, port: Int, request: [UInt8], headOnly: Bool, timeout: Double, done: @escaping (Result<HTTPClient.Response, Error>) -> Void) {
        self.loop = loop
        self.host = host
        self.port = port
        origin = "\(host):\(port)"
        self.request = request
        self.headOnly = headOnly
        deadline = loop.now + timeout
        parser = ResponseParser(headOnly: headOnly)
        self.done = done
        fd = -1
        phase = .writing
        reused = false
    }

    func start() {
        if let pooled = loop.idleClients[origin]?.popLast() {
            fd = pooled
            reused = true
            phase = .writing
        } else {
            do { try open() } catch { done(.failure(error)); return }
        }
        loop.clients[fd] = self
        loop.add(fd: fd, events: EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue)
        if phase == .writing { write() }
    }

    private func open() throws {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard s >= 0 else { throw HTTPClient.ClientError.connect(systemError()) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { close(s); throw HTTPClient.ClientError.connect("\(host) is not an IPv4 address") }
        var one: Int32 = 1
        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if rc != 0 {
            guard errno == EINPROGRESS else { let e = systemError(); close(s); throw HTTPClient.ClientError.connect("\(origin): \(e)") }
            phase = .connecting
        } else {
            phase = .writing
        }
        fd = s
        reused = false
    }

    /// epoll said the socket is ready.
    func ready(_ flags: UInt32) {
        if phase == .connecting {
            guard flags & (EPOLLOUT.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 else { return }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            guard err == 0 else { return finish(.failure(HTTPClient.ClientError.connect("\(origin): \(String(cString: strerror(err)))")), keep: false) }
            phase = .writing
        }
        if phase == .writing, flags & EPOLLOUT.rawValue != 0 { write() }
        if phase == .reading, flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { read() }
    }

    private func write() {
        while written < request.count {
            let n = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + written, request.count - written, Int32(MSG_NOSIGNAL)) }
            if n > 0 { written += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
            return closed()
        }
        phase = .reading
        loop.modify(fd: fd, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
        read()
    }

    private func read() {
        while true {
            do {
                if let r = try parser.response() { return finish(.success(r), keep: parser.keepAlive) }
            } catch { return finish(.failure(error), keep: false) }
            let n = loop.withReadBuffer { buf in buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
            if n > 0 {
                loop.withReadBuffer { parser.feed($0[0..<n]) }
                continue
            }
            if n == 0 {
                if let r = try? parser.finishAtEOF() { return finish(.success(r), keep: false) }
                return closed()
            }
            if errno == EAGAIN || errno == EINTR { return }
            return closed()
        }
    }

    /// The peer closed or reset: a pooled connection that answered nothing is retried once on a fresh one.
    private func closed() {
        if reused && parser.buffer.isEmpty {
            detach(keep: false)
            let retry = LoopExchange(loop: loop, host: host, port: port, request: request, headOnly: headOnly, timeout: max(0.001, deadline - loop.now), done: done)
            retry.start()
            return
        }
        finish(.failure(HTTPClient.ClientError.closed), keep: false)
    }

    func timedOut() { finish(.failure(HTTPClient.ClientError.timeout), keep: false) }

    private func detach(keep: Bool) {
        loop.clients[fd] = nil
        epoll_ctl(loop.epfd, EPOLL_CTL_DEL, fd, nil)
        if keep, loop.idleClients[origin, default: []].count < 64 { loop.idleClients[origin, default: []].append(fd) } else { close(fd) }
    }

    private func finish(_ result: Result<HTTPClient.Response, Error>, keep: Bool) {
        detach(keep: keep)
        done(result)
    }
}

import CSystem
import Foundation
import Glibc
import Synchronization

/// One epoll loop on its own thread. Connection state is only touched on
/// this thread; other threads hand work in through `execute` (a mailbox plus
/// an eventfd wake-up).
final class EventLoop: @unchecked Sendable {
    unowned let server: HTTPServer
    let epfd: Int32
    let wakefd: Int32
    var listenFD: Int32
    let index: Int
    var connections: [Int32: Connection] = [:]
    private let mailbox = Mutex<[@Sendable () -> Void]>([])
    let finished = Atomic<Bool>(false)
    private var running = true
    private var thread: Thread?
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    var now: Double = 0
    var ids = IDGenerator()
    var dateHeader = ""
    private var dateSecond = -1
    /// Client exchanges this loop runs (`LoopExchange`), by socket, and the
    /// keep-alive connections they left, by origin.
    var clients: [Int32: LoopExchange] = [:]
    /// `executeSoon` work queued by this loop's own thread (loop thread only).
    var soon: [@Sendable () -> Void] = []
    var idleClients: [String: [Int32]] = [:]

    /// The loop running on the calling thread, if any.
    static var current: EventLoop? {
        guard let p = pthread_getspecific(currentKey) else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(p).takeUnretainedValue()
    }
    private static let currentKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Client exchanges' read buffer (its own: an exchange can start inside a
    /// connection's read, while that read holds `readBuffer`).
    private var clientBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    func withReadBuffer<T>(_ body: (inout [UInt8]) -> T) -> T { body(&clientBuffer) }

    init(server: HTTPServer, listenFD: Int32, index: Int) throws {
        self.server = server
        self.listenFD = listenFD
        self.index = index
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakefd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard epfd >= 0, wakefd >= 0 else { throw ServerError.socket("epoll/eventfd: \(systemError())") }
        add(fd: wakefd, events: EPOLLIN.rawValue)
        add(fd: listenFD, events: EPOLLIN.rawValue)
    }

    func start() {
        let t = Thread { [self] in self.run() }
        t.name = "\(server.config.name)-loop-\(index)"
        t.stackSize = 1 << 20
        thread = t
        t.start()
    }

    /// Runs `work` on this loop's thread.
    func execute(_ work: @escaping @Sendable () -> Void) {
        mailbox.withLock { $0.append(work) }
        var one: UInt64 = 1
        _ = write(wakefd, &one, 8)
    }

    /// Work for this loop: from its own thread, run right after the events it
    /// is handling (no wake-up write); from any other thread, as `execute`.
    func executeSoon(_ work: @escaping @Sendable () -> Void) {
        if EventLoop.current === self { soon.append(work) } else { execute(work) }
    }

    // MARK: epoll plumbing

    func add(fd: Int32, events: UInt32) {
        var ev = epoll_event()
        ev.events = events
        csystem_event_set_fd(&ev, fd)
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)
    }

    func modify(fd: Int32, events: UInt32) {
        var ev = epoll_event()
        ev.events = events
        csystem_event_set_fd(&ev, fd)
        epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev)
    }

    private func updateClock() {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        now = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        if Int(wall.tv_sec) != dateSecond {
            dateSecond = Int(wall.tv_sec)
            var t = time_t(wall.tv_sec)
            var tm = tm()
            gmtime_r(&t, &tm)
            var buf = [CChar](repeating: 0, count: 64)
            let n = strftime(&buf, 64, "%a, %d %b %Y %H:%M:%S GMT", &tm)
            dateHeader = String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    private func run() {
        pthread_setspecific(EventLoop.currentKey, Unmanaged.passUnretained(self).toOpaque())
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var lastSweep: Double = 0
        updateClock()
        while running {
            let n = epoll_wait(epfd, &events, 256, 250)
            updateClock()
            if n > 0 {
                for i in 0..<Int(n) {
                    let fd = csystem_event_fd(&events[i])
                    let flags = events[i].events
                    if fd == wakefd {
                        var v: UInt64 = 0
                        _ = read(wakefd, &v, 8)
                        let work = mailbox.withLock { m -> [@Sendable () -> Void] in let w = m; m.removeAll(keepingCapacity: true); return w }
                        for w in work { w() }
                    } else if fd == listenFD {
                        acceptAll()
                    } else if let conn = connections[fd] {
                        if flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 && flags & EPOLLIN.rawValue == 0 { conn.close(); continue }
                        if flags & EPOLLIN.rawValue != 0 { conn.readable(&readBuffer) }
                        if flags & EPOLLOUT.rawValue != 0, connections[fd] != nil { conn.flush() }
                    } else if let exchange = clients[fd] {
                        exchange.ready(flags)
                    }
                }
            }
            while !soon.isEmpty {
                let work = soon
                soon.removeAll(keepingCapacity: true)
                for w in work { w() }
            }
            if now - lastSweep >= 0.1 {
                lastSweep = now
                for conn in Array(connections.values) { conn.checkTimeouts() }
                for exchange in Array(clients.values) where now > exchange.deadline { exchange.timedOut() }
            }
        }
        close(epfd)
        close(wakefd)
        finished.store(true, ordering: .relaxed)
    }

    private func acceptAll() {
        while listenFD >= 0 {
            let fd = csystem_accept(listenFD)
            if fd < 0 { return }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let open = server.openConnections.wrappingAdd(1, ordering: .relaxed).newValue
            server.metrics.openConnections.store(open, ordering: .relaxed)
            let conn = Connection(fd: fd, loop: self)
            connections[fd] = conn
            add(fd: fd, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
            if open > server.config.maxConnections || server.shuttingDown.load(ordering: .relaxed) {
                conn.rejectWhileBusy()
            }
        }
    }

    func stopAccepting() {
        guard listenFD >= 0 else { return }
        epoll_ctl(epfd, EPOLL_CTL_DEL, listenFD, nil)
        close(listenFD)
        listenFD = -1
        // Idle keep-alive connections are closed now; busy ones after their response.
        for conn in Array(connections.values) { conn.closeIfIdle() }
    }

    func closeAll() {
        for conn in Array(connections.values) { conn.shutdownClose() }
        running = false
    }

    func removed(_ fd: Int32) {
        connections[fd] = nil
        let open = server.openConnections.wrappingAdd(-1, ordering: .relaxed).newValue
        server.metrics.openConnections.store(open, ordering: .relaxed)
    }
}


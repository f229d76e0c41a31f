import APIRuntime
import HTTPServer

/// A generated stream's elements as WebSocket text frames: what a
/// `(route).websocket` rpc writes. `framed` bytes are one element's JSON.
struct WebSocketSink: StreamSink {
    let socket: WebSocket
    func send(framed bytes: [UInt8]) async -> Bool { await socket.send(frames: WebSocketEncoder.frame(.text, bytes)) }
    func post(framed bytes: [UInt8]) -> Bool { socket.post(frames: WebSocketEncoder.frame(.text, bytes)) }
    func send(data: String) async -> Bool { await socket.send(text: data) }
    /// A ping: browsers answer it without the page seeing anything.
    func comment(_ text: String) async -> Bool { await socket.send(frames: WebSocketEncoder.frame(.ping, Array(text.utf8.prefix(125)))) }
    var isOpen: Bool { socket.isOpen }
    func postKeepAlive() -> Bool { socket.post(frames: WebSocketEncoder.frame(.ping, [])) }
}

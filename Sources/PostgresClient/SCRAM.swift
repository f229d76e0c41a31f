import Digests
import ProtoWire

/// The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses
/// it (no channel binding; the user name is the startup message's): a value
/// that turns the server's messages into ours and checks the server's proof.
public struct SCRAMClient: Sendable {
    let password: String
    let nonce: String
    public private(set) var clientFirstBare: String
    var serverKey: [UInt8] = []
    var authMessage = ""

    public init(password: String, nonce: String? = nil, user: String = "") {
        self.password = password
        if let nonce { self.nonce = nonce } else {
            var g = SystemRandomNumberGenerator()
            self.nonce = Base64.encode((0..<18).map { _ in UInt8.random(in: 0...255, using: &g) })
        }
        clientFirstBare = "n=\(user),r=\(self.nonce)"
    }

    /// client-first-message: the GS2 header `n,,` and the bare part.
    public var clientFirst: String { "n,," + clientFirstBare }

    /// The answer to server-first-message (`r=…,s=…,i=…`): client-final-message with the proof.
    public mutating func clientFinal(serverFirst: String) throws(PostgresError) -> String {
        var attrs: [Character: String] = [:]
        for part in serverFirst.split(separator: ",") where part.count >= 2 && part.dropFirst().first == "=" {
            attrs[part.first!] = String(part.dropFirst(2))
        }
        guard let serverNonce = attrs["r"], serverNonce.hasPrefix(nonce), serverNonce.count > nonce.count else {
            throw PostgresError(.authentication, "SCRAM: the server's nonce does not extend ours")
        }
        guard let saltText = attrs["s"], let salt = Base64.decode(saltText) else { throw PostgresError(.authentication, "SCRAM: no salt") }
        guard let iterText = attrs["i"], let iterations = Int(iterText), iterations >= 1, iterations <= 10_000_000 else {
            throw PostgresError(.authentication, "SCRAM: bad iteration count")
        }
        let salted = PBKDF2.sha256(password: Array(password.utf8), salt: salt, iterations: iterations)
        let clientKey = HMACSHA256.mac(key: salted, message: Array("Client Key".utf8))
        let storedKey = SHA256.hash(clientKey)
        let withoutProof = "c=biws,r=\(serverNonce)"
        authMessage = clientFirstBare + "," + serverFirst + "," + withoutProof
        let signature = HMACSHA256.mac(key: storedKey, message: Array(authMessage.utf8))
        let proof = zip(clientKey, signature).map { $0 ^ $1 }
        serverKey = HMACSHA256.mac(key: salted, message: Array("Server Key".utf8))
        return withoutProof + ",p=" + Base64.encode(proof)
    }

    /// Checks server-final-message (`v=<ServerSignature>`): a server that does not
    /// know the password cannot make it.
    public func verify(serverFinal: String) throws(PostgresError) {
        if serverFinal.hasPrefix("e=") { throw PostgresError(.authentication, "SCRAM: the server refused: \(serverFinal.dropFirst(2))") }
        let expected = "v=" + Base64.encode(HMACSHA256.mac(key: serverKey, message: Array(authMessage.utf8)))
        guard !serverKey.isEmpty, serverFinal.split(separator: ",").first.map(String.init) == expected else {
            throw PostgresError(.authentication, "SCRAM: the server's signature does not verify")
        }
    }
}

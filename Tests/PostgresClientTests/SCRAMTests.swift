import Digests
import Foundation
@testable import PostgresClient
import XCTest

/// SCRAM-SHA-256 and PBKDF2 against their RFCs' vectors and Python's hashlib.
final class SCRAMTests: XCTestCase {
    func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    func testPBKDF2HMACSHA256MatchesRFC7914() {
        XCTAssertEqual(hex(PBKDF2.sha256(password: Array("passwd".utf8), salt: Array("salt".utf8), iterations: 1, length: 64)),
                       "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
    }

    func testPBKDF2MatchesPythonsHashlib() throws {
        for (pw, salt, iterations, length) in [("pencil", "salt-1", 4096, 32), ("", "x", 2, 16), ("pässwörd", "NaCl", 100, 48)] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            p.arguments = ["-c", "import hashlib,sys; print(hashlib.pbkdf2_hmac('sha256', sys.argv[1].encode(), sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4])).hex())",
                           pw, salt, String(iterations), String(length)]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let expected = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            p.waitUntilExit()
            XCTAssertEqual(hex(PBKDF2.sha256(password: Array(pw.utf8), salt: Array(salt.utf8), iterations: iterations, length: length)), expected, pw)
        }
    }

    /// RFC 7677 section 3: user "user", password "pencil".
    func testTheRFC7677ExchangeGivesItsProofAndVerifiesItsServerSignature() throws {
        var c = SCRAMClient(password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO", user: "user")
        XCTAssertEqual(c.clientFirst, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let final = try c.clientFinal(serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        XCTAssertEqual(final, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        XCTAssertNoThrow(try c.verify(serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
    }

    func testAForgedServerSignatureIsRefused() throws {
        var c = SCRAMClient(password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO", user: "user")
        _ = try c.clientFinal(serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        XCTAssertThrowsError(try c.verify(serverFinal: "v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
    }

    func testAServerNonceThatDoesNotExtendOursIsRefused() {
        var c = SCRAMClient(password: "pencil", nonce: "abc")
        XCTAssertThrowsError(try c.clientFinal(serverFirst: "r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"))
    }
}

import Foundation

/// Paths of this checkout, found from this file's location.
public enum Repo {
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
    public static func path(_ relative: String) -> String { root + "/" + relative }
}

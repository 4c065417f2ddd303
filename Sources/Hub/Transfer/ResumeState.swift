import Foundation

/// The sidecar next to a `.part` file (`NAME.part.json`): which pieces are on disk, and what the
/// file is, so an interrupted download (crash, kill -9, Ctrl-C) resumes without fetching those
/// pieces again, and a changed remote file is not resumed into.
struct ResumeState: Codable, Equatable {
    var version = 1
    /// The URL first asked for (before redirects: CDN URLs are signed and change).
    var source: String
    var size: Int64
    var pieceSize: Int
    var etag: String?
    var expectedSHA256: String?
    /// One character per block: "1" on disk, "0" not yet. (`pieceSize` is the block size; the
    /// names are kept so sidecars from earlier versions still resume.)
    var pieces: String

    var pieceCount: Int { pieces.count }

    /// Which blocks are on disk, in order (one pass: indexing a String by offset is linear).
    var doneMap: [Bool] { pieces.utf8.map { $0 == UInt8(ascii: "1") } }

    var doneCount: Int { pieces.reduce(0) { $0 + ($1 == "1" ? 1 : 0) } }

    static func load(_ path: String) -> ResumeState? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ResumeState.self, from: data)
    }

    /// Writes via a temporary file and rename, so a kill mid-write never leaves a torn sidecar.
    func save(_ path: String) throws {
        let data = try JSONEncoder().encode(self)
        let temporary = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: temporary))
        _ = rename(temporary, path)
    }

    /// The same remote file (whatever block size each run used).
    func describesSameFile(as other: ResumeState) -> Bool {
        source == other.source && size == other.size
            && (etag == nil || other.etag == nil || etag == other.etag)
            && (expectedSHA256 == nil || other.expectedSHA256 == nil || expectedSHA256 == other.expectedSHA256)
    }
}

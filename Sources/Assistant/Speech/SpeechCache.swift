import Foundation

/// Synthesized WAVs on disk, so a greeting or menu read a thousand times is synthesized once.
///
/// Keys are computed by the caller, as the lowercase hex SHA-256 of voice id, speed and text (all three change the
/// sound). Only keys of 16–128 hex digits are accepted, so a file name can never leave the folder. The folder is
/// bounded: after each write the least recently used files are removed until it holds at most `maxBytes`.
package actor SpeechCache {
    package nonisolated let directory: URL
    package nonisolated let maxBytes: Int
    /// What the folder is believed to hold; nil until first measured. Another process sharing the folder makes
    /// this drift, which only delays eviction until the next measurement.
    private var knownBytes: Int?

    package init(directory: URL, maxBytes: Int = 256 * 1024 * 1024) {
        self.directory = directory
        self.maxBytes = maxBytes
    }

    /// Nil for a key that is not 16–128 hex digits.
    package nonisolated func url(for key: String) -> URL? {
        guard Self.isValidKey(key) else { return nil }
        return directory.appendingPathComponent(key.lowercased() + ".wav", isDirectory: false)
    }

    package func get(_ key: String) -> Data? {
        guard let url = url(for: key), let data = try? Data(contentsOf: url) else { return nil }
        // A hit counts as use, so eviction removes what nobody asked for lately.
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: url.path)
        return data
    }

    /// Readers never see a half-written file: Data's atomic write goes to a temporary file beside the target and
    /// renames it into place.
    package func put(_ key: String, data: Data) throws {
        guard let url = url(for: key) else {
            throw SpeechEngineError("speech cache key must be 16–128 hex digits (a SHA-256 of voice, speed and text)")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try data.write(to: url, options: .atomic)
        let total = (knownBytes ?? measure()) + data.count
        knownBytes = total
        if total > maxBytes {
            knownBytes = evict()
        }
    }

    private struct Entry {
        var url: URL
        var bytes: Int
        var used: Date
    }

    private func entries() -> [Entry] {
        let keys: [URLResourceKey] = [.fileSizeKey, .contentModificationDateKey]
        let urls = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: keys)) ?? []
        return urls.compactMap { url in
            let name = url.lastPathComponent
            guard name.hasSuffix(".wav"), Self.isValidKey(String(name.dropLast(4))),
                let values = try? url.resourceValues(forKeys: Set(keys))
            else { return nil }
            return Entry(url: url, bytes: values.fileSize ?? 0, used: values.contentModificationDate ?? .distantPast)
        }
    }

    private func measure() -> Int {
        entries().reduce(0) { $0 + $1.bytes }
    }

    /// Removes least recently used files until the folder fits; returns what it then holds.
    private func evict() -> Int {
        let all = entries().sorted { $0.used < $1.used }
        var total = all.reduce(0) { $0 + $1.bytes }
        for entry in all where total > maxBytes {
            if (try? FileManager.default.removeItem(at: entry.url)) != nil {
                total -= entry.bytes
            }
        }
        return total
    }

    private static func isValidKey(_ key: String) -> Bool {
        (16...128).contains(key.utf8.count)
            && key.utf8.allSatisfy { byte in
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
            }
    }
}

import Foundation

/// Reads POSIX (ustar) and GNU tar archives from a file, one 512-byte header at a time, so an
/// archive of hundreds of megabytes is never held in memory: what Replicate's trainers deliver
/// (`trained_model.tar` holding `lora.safetensors`).
package enum TarReader {
    package struct Problem: Error, CustomStringConvertible {
        package var description: String
    }

    /// Copies the first regular file whose path `matches` to `destination` (written to
    /// `destination.part`, then renamed); returns the entry's path in the archive, nil when none
    /// matches. At most `maxBytes` are copied.
    package static func extract(from archive: String, to destination: String, maxBytes: Int64, matching: (String) -> Bool) throws -> String? {
        guard let input = FileHandle(forReadingAtPath: archive) else { throw Problem(description: "cannot open \(archive)") }
        defer { try? input.close() }
        var longName: String?
        while true {
            guard let header = try input.read(upToCount: 512), header.count == 512 else { return nil }
            if header.allSatisfy({ $0 == 0 }) { return nil }  // the end-of-archive blocks
            guard checksumMatches(header) else { throw Problem(description: "not a tar archive (bad header checksum)") }
            let size = try octal(header, 124, 12)
            let type = header[header.startIndex + 156]
            var name = longName ?? field(header, 0, 100)
            longName = nil
            let prefix = field(header, 345, 155)
            if !prefix.isEmpty, header[header.startIndex + 257..<header.startIndex + 262].elementsEqual(Array("ustar".utf8)) {
                name = prefix + "/" + name
            }
            let padded = (size + 511) / 512 * 512
            switch type {
            case UInt8(ascii: "L"):
                // GNU long name: the next entry's name is this entry's content.
                let data = try input.read(upToCount: Int(padded)) ?? Data()
                longName = String(decoding: data.prefix(Int(size)).prefix { $0 != 0 }, as: UTF8.self)
            case 0, UInt8(ascii: "0"):
                guard matching(name) else {
                    try input.seek(toOffset: try input.offset() + UInt64(padded))
                    continue
                }
                guard size <= maxBytes else { throw Problem(description: "\(name) is larger than \(maxBytes) bytes") }
                try copy(input, size: size, to: destination)
                return name
            default:
                try input.seek(toOffset: try input.offset() + UInt64(padded))
            }
        }
    }

    static func copy(_ input: FileHandle, size: Int64, to destination: String) throws {
        let part = destination + ".part"
        FileManager.default.createFile(atPath: part, contents: nil)
        guard let output = FileHandle(forWritingAtPath: part) else { throw Problem(description: "cannot write \(part)") }
        var left = size
        do {
            while left > 0 {
                guard let chunk = try input.read(upToCount: Int(min(left, 1 << 20))), !chunk.isEmpty else {
                    throw Problem(description: "the archive ends inside a file")
                }
                try output.write(contentsOf: chunk)
                left -= Int64(chunk.count)
            }
            try output.synchronize()
            try output.close()
            _ = try? FileManager.default.removeItem(atPath: destination)
            try FileManager.default.moveItem(atPath: part, toPath: destination)
        } catch {
            try? output.close()
            try? FileManager.default.removeItem(atPath: part)
            throw error
        }
    }

    static func field(_ header: Data, _ offset: Int, _ length: Int) -> String {
        let bytes = header[header.startIndex + offset..<header.startIndex + offset + length].prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func octal(_ header: Data, _ offset: Int, _ length: Int) throws -> Int64 {
        let text = field(header, offset, length).trimmingCharacters(in: .whitespaces)
        guard let value = Int64(text.isEmpty ? "0" : text, radix: 8), value >= 0 else {
            throw Problem(description: "not a tar archive (bad size field)")
        }
        return value
    }

    /// The header's checksum: the sum of its bytes with the checksum field read as spaces.
    static func checksumMatches(_ header: Data) -> Bool {
        guard let stored = try? octal(header, 148, 8) else { return false }
        var sum: Int64 = 0
        for (index, byte) in header.enumerated() { sum += (148..<156).contains(index) ? 32 : Int64(byte) }
        return sum == stored
    }
}

import Foundation

/// The table of contents of a zip archive, read from its central directory (PKWARE's APPNOTE),
/// without unpacking anything: enough to tell a person what their archive holds before it goes
/// to a training service. Every offset and length is checked against the data, so a damaged or
/// hostile archive is an error, never a read out of bounds. No zip64 and no split archives.
package struct ZipDirectory: Sendable, Equatable {
    package struct Entry: Sendable, Equatable {
        package var name: String
        package var compressedSize: UInt32
        package var size: UInt32
        /// 0 stored, 8 deflate; anything else few unzip tools read.
        package var method: UInt16

        package var isDirectory: Bool { name.hasSuffix("/") }
    }

    package enum ReadError: Error, Equatable, CustomStringConvertible {
        case notZip
        case damaged(String)
        case unsupported(String)

        package var description: String {
            switch self {
            case .notZip: "not a zip archive"
            case .damaged(let what): "a damaged zip archive (\(what))"
            case .unsupported(let what): "a zip archive this server cannot read (\(what))"
            }
        }
    }

    package var entries: [Entry]

    /// Reads the directory of `data`; at most `maxEntries` entries are accepted.
    package init(_ data: Data, maxEntries: Int = 10_000) throws(ReadError) {
        let bytes = [UInt8](data)
        guard bytes.count >= 22, bytes.starts(with: [0x50, 0x4B]) else { throw .notZip }
        // The end record is the last 22 bytes plus a comment of up to 65,535 bytes.
        var end: Int?
        var position = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65_535)
        while position >= lowest {
            if Self.le32(bytes, position) == 0x0605_4B50 {
                end = position
                break
            }
            position -= 1
        }
        guard let end else { throw .notZip }
        let disk = Self.le16(bytes, end + 4)
        let count = Int(Self.le16(bytes, end + 10))
        let size = Int(Self.le32(bytes, end + 12))
        let offset = Int(Self.le32(bytes, end + 16))
        guard disk == 0 else { throw .unsupported("split over several files") }
        guard count != 0xFFFF, offset != 0xFFFF_FFFF else { throw .unsupported("zip64") }
        guard count <= maxEntries else { throw .unsupported("more than \(maxEntries) entries") }
        guard offset + size <= end else { throw .damaged("the directory runs past its end record") }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var at = offset
        for _ in 0..<count {
            guard at + 46 <= offset + size, Self.le32(bytes, at) == 0x0201_4B50 else { throw .damaged("entry \(entries.count + 1)") }
            let nameLength = Int(Self.le16(bytes, at + 28))
            let extraLength = Int(Self.le16(bytes, at + 30))
            let commentLength = Int(Self.le16(bytes, at + 32))
            let next = at + 46 + nameLength + extraLength + commentLength
            guard next <= offset + size else { throw .damaged("entry \(entries.count + 1) runs past the directory") }
            let localHeader = Int(Self.le32(bytes, at + 42))
            guard localHeader + 30 <= offset else { throw .damaged("entry \(entries.count + 1) points past the data") }
            entries.append(
                Entry(
                    name: String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self),
                    compressedSize: Self.le32(bytes, at + 20),
                    size: Self.le32(bytes, at + 24),
                    method: Self.le16(bytes, at + 10)
                )
            )
            at = next
        }
        self.entries = entries
    }

    private static func le16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }

    private static func le32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }
}

import Foundation

/// Writes a zip archive of stored (uncompressed) entries: what a training service wants for a
/// set of JPEGs, which do not compress anyway. Enough of PKWARE's APPNOTE for any unzip: local
/// headers, the central directory and its end record; no zip64, so under 4 GiB and 65,535 files.
package struct ZipArchive {
    package private(set) var data = Data()
    private var central = Data()
    private var count: UInt16 = 0

    package init() {}

    package mutating func add(name: String, contents: Data) {
        let nameBytes = Data(name.utf8)
        let crc = CRC32.checksum(contents)
        let offset = UInt32(data.count)
        var local = Data()
        local.append(le32: 0x0403_4b50)
        local.append(le16: 20)  // version needed
        local.append(le16: 0x0800)  // UTF-8 names
        local.append(le16: 0)  // stored
        local.append(le16: 0)  // time
        local.append(le16: 0x21)  // date: 1980-01-01
        local.append(le32: crc)
        local.append(le32: UInt32(contents.count))
        local.append(le32: UInt32(contents.count))
        local.append(le16: UInt16(nameBytes.count))
        local.append(le16: 0)
        data.append(local)
        data.append(nameBytes)
        data.append(contents)

        central.append(le32: 0x0201_4b50)
        central.append(le16: 20)  // made by
        central.append(le16: 20)
        central.append(le16: 0x0800)
        central.append(le16: 0)
        central.append(le16: 0)
        central.append(le16: 0x21)
        central.append(le32: crc)
        central.append(le32: UInt32(contents.count))
        central.append(le32: UInt32(contents.count))
        central.append(le16: UInt16(nameBytes.count))
        central.append(le16: 0)  // extra
        central.append(le16: 0)  // comment
        central.append(le16: 0)  // disk
        central.append(le16: 0)  // internal attributes
        central.append(le32: 0)  // external attributes
        central.append(le32: offset)
        central.append(nameBytes)
        count += 1
    }

    /// The finished archive.
    package func finish() -> Data {
        var out = data
        let start = UInt32(out.count)
        out.append(central)
        out.append(le32: 0x0605_4b50)
        out.append(le16: 0)
        out.append(le16: 0)
        out.append(le16: count)
        out.append(le16: count)
        out.append(le32: UInt32(central.count))
        out.append(le32: start)
        out.append(le16: 0)
        return out
    }
}

extension Data {
    mutating func append(le16 value: UInt16) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
    mutating func append(le32 value: UInt32) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
}

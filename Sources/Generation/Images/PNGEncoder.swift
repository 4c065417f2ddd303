import Foundation

/// A minimal PNG writer (8-bit RGB, zlib "stored" blocks): enough for the mock backend to produce
/// real, valid images without an image library. It writes into one preallocated buffer and
/// computes the checksums in single passes (Adler-32 with the modulo deferred per 5,552 bytes,
/// CRC-32 sliced by 8), since the mock renders one image per queued job.
public enum PNGEncoder {
    public static func encode(width: Int, height: Int, rgb: [UInt8]) -> Data {
        precondition(rgb.count == width * height * 3, "pixel buffer size")
        let rowBytes = width * 3
        let rawCount = (rowBytes + 1) * height
        let blocks = max(1, (rawCount + 65_534) / 65_535)
        let idatCount = 2 + blocks * 5 + rawCount + 4
        var png = [UInt8]()
        png.reserveCapacity(8 + 25 + 12 + idatCount + 12)
        png += [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

        var header = [UInt8]()
        append(UInt32(width), to: &header)
        append(UInt32(height), to: &header)
        header += [8, 2, 0, 0, 0]  // 8-bit, truecolour, deflate, adaptive filter, no interlace
        appendChunk("IHDR", to: &png) { $0 += header }

        appendChunk("IDAT", to: &png) { out in
            out += [0x78, 0x01]
            var adler = Adler32()
            var row = 0, column = 0  // position in the filtered stream: a 0 (filter "none") then the row's pixels
            var remaining = rawCount
            rgb.withUnsafeBufferPointer { pixels in
                while remaining > 0 {
                    let count = min(65_535, remaining)
                    remaining -= count
                    out += [remaining == 0 ? 1 : 0, UInt8(count & 0xFF), UInt8(count >> 8), UInt8(~count & 0xFF), UInt8((~count >> 8) & 0xFF)]
                    var left = count
                    while left > 0 {
                        if column == 0 {
                            out.append(0)
                            adler.update(0)
                            column = 1
                            left -= 1
                            continue
                        }
                        let take = min(left, rowBytes - (column - 1))
                        let start = row * rowBytes + column - 1
                        let slice = UnsafeBufferPointer(rebasing: pixels[start..<(start + take)])
                        out.append(contentsOf: slice)
                        adler.update(slice)
                        column += take
                        left -= take
                        if column == rowBytes + 1 {
                            column = 0
                            row += 1
                        }
                    }
                }
            }
            append(adler.value, to: &out)
        }
        appendChunk("IEND", to: &png) { _ in }
        return Data(png)
    }

    /// Appends a chunk: length, type, the body `write` appends, and the CRC of type and body.
    static func appendChunk(_ type: String, to png: inout [UInt8], _ write: (inout [UInt8]) -> Void) {
        let lengthAt = png.count
        append(0, to: &png)
        let typeAt = png.count
        png += Array(type.utf8)
        write(&png)
        let bodyCount = png.count - typeAt - 4
        png[lengthAt] = UInt8(bodyCount >> 24)
        png[lengthAt + 1] = UInt8((bodyCount >> 16) & 0xFF)
        png[lengthAt + 2] = UInt8((bodyCount >> 8) & 0xFF)
        png[lengthAt + 3] = UInt8(bodyCount & 0xFF)
        let crc = png.withUnsafeBufferPointer { crc32(UnsafeBufferPointer(rebasing: $0[typeAt...])) }
        append(crc, to: &png)
    }

    struct Adler32 {
        private var a: UInt32 = 1
        private var b: UInt32 = 0

        mutating func update(_ byte: UInt8) {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }

        /// 5,552 bytes is the most that can be summed before `b` could overflow 32 bits.
        mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
            var index = 0
            while index < bytes.count {
                let end = min(bytes.count, index + 5_552)
                while index < end {
                    a &+= UInt32(bytes[index])
                    b &+= a
                    index += 1
                }
                a %= 65_521
                b %= 65_521
            }
        }

        var value: UInt32 { b << 16 | a }
    }

    /// CRC-32 tables for "slicing by 8" (eight bytes per step): table k (at k × 256) gives the
    /// CRC of a byte followed by k zero bytes.
    static let crcTables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            tables[n] = c
        }
        for k in 1..<8 {
            for n in 0..<256 {
                let previous = tables[(k - 1) * 256 + n]
                tables[k * 256 + n] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    static func crc32(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        crcTables.withUnsafeBufferPointer { t in
            var c: UInt32 = 0xFFFF_FFFF
            var i = 0
            while i + 8 <= bytes.count {
                let low = c ^ (UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
                c = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(bytes[i + 4])] ^ t[2 * 256 + Int(bytes[i + 5])]
                    ^ t[256 + Int(bytes[i + 6])] ^ t[Int(bytes[i + 7])]
                i += 8
            }
            while i < bytes.count {
                c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
            return c ^ 0xFFFF_FFFF
        }
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { crc32($0) }
    }

    static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}

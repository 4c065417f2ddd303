import Core
import Foundation

/// A minimal PNG writer (8-bit RGB): enough for the mock backend to produce real, valid images
/// without an image library. Rows are filtered (None, Sub or Up) and deflated by `Deflate`:
/// the mock's gradients shrink from 8 KiB to a few hundred bytes, which is most of what it
/// costs to store one (new page-cache pages, a checksum over every byte).
package enum PNGEncoder {
    /// How each row is filtered before compression.
    package enum RowFilter: Sendable {
        /// Per row, the filter with the smallest sum of absolute differences (libpng's heuristic).
        case adaptive
        /// Sub for the first row, Up for every other: for pictures that change little from one row
        /// to the next, without the cost of trying three filters per row.
        case up
    }

    package static func encode(width: Int, height: Int, rgb: [UInt8], filter: RowFilter = .adaptive) -> Data {
        precondition(rgb.count == width * height * 3, "pixel buffer size")
        let raw = filtered(width: width, height: height, rgb: rgb, filter: filter)
        var png = [UInt8]()
        png.reserveCapacity(1024)
        png += [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

        var header = [UInt8]()
        append(UInt32(width), to: &header)
        append(UInt32(height), to: &header)
        header += [8, 2, 0, 0, 0]  // 8-bit, truecolour, deflate, adaptive filter, no interlace
        appendChunk("IHDR", to: &png) { $0 += header }
        // IDAT holds a zlib stream (header, deflate, Adler-32).
        appendChunk("IDAT", to: &png) { out in out += raw.withUnsafeBufferPointer { Deflate.zlib($0) } }
        appendChunk("IEND", to: &png) { _ in }
        return Data(png)
    }

    /// Rows prefixed by their filter type, each filtered as PNG defines (bytes of the pixel to the
    /// left for Sub, of the row above for Up, 3 bytes per RGB pixel).
    static func filtered(width: Int, height: Int, rgb: [UInt8], filter: RowFilter = .adaptive) -> [UInt8] {
        let stride = width * 3
        var out = [UInt8](repeating: 0, count: (stride + 1) * height)
        rgb.withUnsafeBufferPointer { pixels in
            out.withUnsafeMutableBufferPointer { out in
                guard let pixels = pixels.baseAddress, let out = out.baseAddress else { return }
                for y in 0..<height {
                    let row = pixels + y * stride
                    // The row above. The first row has none: Up is never chosen for it.
                    let above = y > 0 ? row - stride : nil
                    let target = out + y * (stride + 1)
                    // The filter type: 2 Up, 1 Sub, 0 None.
                    let type: UInt8
                    if filter == .up {
                        type = above == nil ? 1 : 2
                    } else {
                        let none = absoluteSum(row, minus: nil, count: stride)
                        // Sub: the first pixel has no left neighbour and is kept as it is.
                        let sub =
                            absoluteSum(row, minus: nil, count: min(3, stride))
                            + (stride > 3 ? absoluteSum(row + 3, minus: row, count: stride - 3) : 0)
                        let up = above.map { absoluteSum(row, minus: $0, count: stride) } ?? Int.max
                        type = up <= sub && up <= none ? 2 : sub <= none ? 1 : 0
                    }
                    target[0] = type
                    if type == 2, let above {
                        for x in 0..<stride { target[1 + x] = row[x] &- above[x] }
                    } else if type == 1 {
                        for x in 0..<stride { target[1 + x] = x >= 3 ? row[x] &- row[x - 3] : row[x] }
                    } else {
                        (target + 1).update(from: row, count: stride)
                    }
                }
            }
        }
        return out
    }

    /// Σ |a[i] − b[i]| over `count` bytes, each difference read as a signed byte (so 255 is −1),
    /// or Σ |a[i]| without `b`: the cost libpng's heuristic gives a filtered row. Sixteen bytes at
    /// a time: this loop was the mock backend's largest cost per job when it went byte by byte.
    static func absoluteSum(_ a: UnsafePointer<UInt8>, minus b: UnsafePointer<UInt8>?, count: Int) -> Int {
        var total = 0
        var index = 0
        while count - index >= 16 {
            // 16-bit lanes take 255 chunks of at most 128 each before they could overflow.
            var lanes = SIMD16<UInt16>(repeating: 0)
            let chunkEnd = min(count - (count - index) % 16, index + 255 * 16)
            while index < chunkEnd {
                var d = UnsafeRawPointer(a + index).loadUnaligned(as: SIMD16<UInt8>.self)
                if let b { d &-= UnsafeRawPointer(b + index).loadUnaligned(as: SIMD16<UInt8>.self) }
                // |Int8(bitPattern: d)| as an unsigned byte: d for 0…128, 256 − d above.
                lanes &+= SIMD16<UInt16>(truncatingIfNeeded: pointwiseMin(d, 0 &- d))
                index += 16
            }
            total += Int(lanes.wrappedSum())
        }
        while index < count {
            let d = a[index] &- (b?[index] ?? 0)
            total += Int(min(d, 0 &- d))
            index += 1
        }
        return total
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
        let crc = png.withUnsafeBufferPointer { CRC32.checksum(UnsafeBufferPointer(rebasing: $0[typeAt...])) }
        append(crc, to: &png)
    }

    static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}

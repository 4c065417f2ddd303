/// A small zlib stream writer (RFC 1950 around RFC 1951 deflate) for the PNG encoder: one greedy
/// pass (each position's next four bytes looked up in a hash table of the last position that had
/// them), deflate's fixed Huffman codes, stored blocks when that would not be smaller.
/// Not zlib: its per-stream set-up cost more than compressing the mock backend's few kilobytes of
/// rows (docs/BENCHMARKS.md, queue).
enum Deflate {
    /// `input` as a complete zlib stream.
    static func zlib(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out = BitWriter(capacity: input.count / 8 + 64)
        out.bytes += [0x78, 0x01]  // deflate, 32 KiB window; no dictionary; (0x7801 % 31 == 0)
        compress(input, into: &out)
        if out.bytes.count > input.count + input.count / 64 + 16 {
            out.bytes.removeSubrange(2...)
            storedBlocks(input, into: &out.bytes)
        }
        appendBigEndian(Adler32.checksum(input), to: &out.bytes)
        return out.bytes
    }

    static let windowSize = 32_768
    static let maxMatch = 258
    static let minMatch = 4
    static let hashBits = 12

    /// One final block with fixed codes.
    static func compress(_ input: UnsafeBufferPointer<UInt8>, into out: inout BitWriter) {
        out.write(0b011, bits: 3)  // BFINAL = 1, BTYPE = 01 (fixed Huffman codes)
        let count = input.count
        if let bytes = input.baseAddress, count >= minMatch {
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: 1 << hashBits) { table in
                table.initialize(repeating: -1)
                var index = 0
                while index + minMatch <= count {
                    let word = load32(bytes + index)
                    let slot = Int((word &* 2_654_435_761) >> UInt32(32 - hashBits))
                    let candidate = Int(table[slot])
                    table[slot] = Int32(index)
                    if candidate >= 0, index - candidate <= windowSize, load32(bytes + candidate) == word {
                        let length = matchLength(bytes + candidate, bytes + index, limit: min(maxMatch, count - index))
                        writeMatch(length: length, distance: index - candidate, to: &out)
                        index += length
                    } else {
                        writeLiteral(bytes[index], to: &out)
                        index += 1
                    }
                }
                while index < count {
                    writeLiteral(bytes[index], to: &out)
                    index += 1
                }
            }
        } else {
            for byte in input { writeLiteral(byte, to: &out) }
        }
        out.write(UInt32(fixedCodes[256].code), bits: Int(fixedCodes[256].length))  // end of block
        out.flush()
    }

    /// How many bytes at `earlier` and `later` are equal (at least `minMatch`, which the caller
    /// checked), up to `limit`; eight at a time.
    static func matchLength(_ earlier: UnsafePointer<UInt8>, _ later: UnsafePointer<UInt8>, limit: Int) -> Int {
        var length = minMatch
        while length + 8 <= limit {
            let difference = load64(earlier + length) ^ load64(later + length)
            if difference != 0 { return length + difference.trailingZeroBitCount / 8 }
            length += 8
        }
        while length < limit && earlier[length] == later[length] { length += 1 }
        return length
    }

    static func writeLiteral(_ byte: UInt8, to out: inout BitWriter) {
        let code = fixedCodes[Int(byte)]
        out.write(UInt32(code.code), bits: Int(code.length))
    }

    /// A length (3…258) and a distance (1…32,768), each as its code and extra bits.
    static func writeMatch(length: Int, distance: Int, to out: inout BitWriter) {
        let n = length - 3
        let symbol: Int
        let extraBits: Int
        if n < 8 {
            (symbol, extraBits) = (257 + n, 0)
        } else if length == 258 {
            (symbol, extraBits) = (285, 0)
        } else {
            let top = Int.bitWidth - 1 - n.leadingZeroBitCount  // 3…7
            (symbol, extraBits) = (257 + 4 * (top - 1) + ((n >> (top - 2)) & 3), top - 2)
        }
        let code = fixedCodes[symbol]
        out.write(UInt32(code.code) | UInt32(n & ((1 << extraBits) - 1)) << UInt32(code.length), bits: Int(code.length) + extraBits)

        let d = distance - 1
        if d < 4 {
            out.write(UInt32(distanceCodes[d]), bits: 5)
        } else {
            let top = Int.bitWidth - 1 - d.leadingZeroBitCount  // 2…14
            // The code (5 bits) and its extra bits, the low `top - 1` bits of d, in one write.
            let code = UInt32(distanceCodes[2 * top + ((d >> (top - 1)) & 1)])
            out.write(code | UInt32(d & ((1 << (top - 1)) - 1)) << 5, bits: 5 + top - 1)
        }
    }

    /// The 30 distance codes, five bits each, bit-reversed.
    static let distanceCodes: [UInt8] = (0..<30).map { UInt8(reversed($0, bits: 5)) }

    /// Deflate's fixed literal/length codes (RFC 1951, 3.2.6), bit-reversed for LSB-first output.
    static let fixedCodes: [(code: UInt16, length: UInt8)] = (0..<288).map { symbol -> (code: UInt16, length: UInt8) in
        switch symbol {
        case 0...143: (UInt16(reversed(0x30 + symbol, bits: 8)), 8)
        case 144...255: (UInt16(reversed(0x190 + symbol - 144, bits: 9)), 9)
        case 256...279: (UInt16(reversed(symbol - 256, bits: 7)), 7)
        default: (UInt16(reversed(0xC0 + symbol - 280, bits: 8)), 8)
        }
    }

    static func reversed(_ value: Int, bits: Int) -> Int {
        var result = 0
        for bit in 0..<bits where value & (1 << bit) != 0 { result |= 1 << (bits - 1 - bit) }
        return result
    }

    /// Uncompressed blocks of at most 65,535 bytes (RFC 1951, 3.2.4).
    static func storedBlocks(_ input: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var offset = 0
        repeat {
            let count = min(65_535, input.count - offset)
            let last: UInt8 = offset + count == input.count ? 1 : 0
            out += [last, UInt8(count & 0xFF), UInt8(count >> 8), UInt8(~count & 0xFF), UInt8((~count >> 8) & 0xFF)]
            out += UnsafeBufferPointer(rebasing: input[offset..<(offset + count)])
            offset += count
        } while offset < input.count
    }

    static func load32(_ pointer: UnsafePointer<UInt8>) -> UInt32 {
        UInt32(littleEndian: UnsafeRawPointer(pointer).loadUnaligned(as: UInt32.self))
    }

    static func load64(_ pointer: UnsafePointer<UInt8>) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(pointer).loadUnaligned(as: UInt64.self))
    }

    static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    /// Bits packed least significant first, as deflate wants them.
    struct BitWriter {
        var bytes: [UInt8] = []
        private var pending: UInt64 = 0
        private var pendingBits = 0

        init(capacity: Int) { bytes.reserveCapacity(capacity) }

        /// The low `bits` (at most 32) of `value`.
        mutating func write(_ value: UInt32, bits: Int) {
            pending |= UInt64(value) << UInt64(pendingBits)
            pendingBits += bits
            while pendingBits >= 8 {
                bytes.append(UInt8(truncatingIfNeeded: pending))
                pending >>= 8
                pendingBits -= 8
            }
        }

        /// Pads the last byte with zero bits.
        mutating func flush() {
            if pendingBits > 0 { bytes.append(UInt8(truncatingIfNeeded: pending)) }
            pending = 0
            pendingBits = 0
        }
    }
}

/// zlib's checksum (RFC 1950, 8.2): a is 1 plus the sum of the bytes, b the sum of the a's,
/// both modulo 65,521.
struct Adler32 {
    private var a: UInt32 = 1
    private var b: UInt32 = 0

    static func checksum(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var adler = Adler32()
        adler.update(bytes)
        return adler.value
    }

    /// Sixteen bytes per step in vector lanes: `sums` adds up each lane's bytes, `prefixes` adds
    /// up `sums` as it was before each step. Over n steps a grows by Σ sums and b by
    /// 16 × n × a + 16 × Σ prefixes + Σ (16 − lane) × sums[lane]. Blocks of 256 steps (4 KiB)
    /// keep every 32-bit lane and sum below overflow before the modulo.
    mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        let weights = SIMD16<UInt32>(16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
        var index = 0
        while bytes.count - index >= 16 {
            let steps = min((bytes.count - index) / 16, 256)
            var sums = SIMD16<UInt32>(repeating: 0)
            var prefixes = SIMD16<UInt32>(repeating: 0)
            for step in 0..<steps {
                let chunk = UnsafeRawPointer(base + index + step * 16).loadUnaligned(as: SIMD16<UInt8>.self)
                prefixes &+= sums
                sums &+= SIMD16<UInt32>(truncatingIfNeeded: chunk)
            }
            let sum = UInt64(sums.wrappedSum())
            let weighted = UInt64((sums &* weights).wrappedSum())
            let newB = UInt64(b) + 16 * UInt64(steps) * UInt64(a) + 16 * UInt64(prefixes.wrappedSum()) + weighted
            a = UInt32((UInt64(a) + sum) % 65_521)
            b = UInt32(newB % 65_521)
            index += steps * 16
        }
        while index < bytes.count {
            a = (a + UInt32(base[index])) % 65_521
            b = (b + a) % 65_521
            index += 1
        }
    }

    var value: UInt32 { b << 16 | a }
}

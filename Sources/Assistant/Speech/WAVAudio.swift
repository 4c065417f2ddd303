import Foundation

/// Mono 16-bit PCM: the one shape every speech engine here reads and writes.
/// Uploads in any common WAV layout are brought to this shape by `parse`, so engines never see channels or sample formats.
package struct WAVAudio: Sendable, Equatable {
    package var sampleRate: Int
    package var samples: [Int16]

    /// OpenAI's `response_format: pcm` is raw s16le mono at this rate, with no header to say so.
    package static let openAIPCMSampleRate = 24_000

    package init(sampleRate: Int, samples: [Int16]) {
        self.sampleRate = sampleRate
        self.samples = samples
    }

    package var duration: Double {
        sampleRate > 0 ? Double(samples.count) / Double(sampleRate) : 0
    }

    /// Reads headerless s16le mono, e.g. what an OpenAI-compatible server returns for `response_format: pcm`.
    package static func fromPCM(_ data: Data, sampleRate: Int = openAIPCMSampleRate) -> WAVAudio {
        let bytes = [UInt8](data)
        var samples = [Int16](repeating: 0, count: bytes.count / 2)
        for index in samples.indices {
            samples[index] = Int16(bitPattern: UInt16(bytes[2 * index]) | UInt16(bytes[2 * index + 1]) << 8)
        }
        return WAVAudio(sampleRate: sampleRate, samples: samples)
    }

    /// Raw little-endian s16 samples with no header. Callers answering `response_format: pcm` should first
    /// `resampled(to: WAVAudio.openAIPCMSampleRate)`, since clients assume 24 kHz (see `openAIPCMData`).
    package func pcmData() -> Data {
        var bytes = [UInt8](repeating: 0, count: samples.count * 2)
        for (index, sample) in samples.enumerated() {
            let bits = UInt16(bitPattern: sample)
            bytes[2 * index] = UInt8(truncatingIfNeeded: bits)
            bytes[2 * index + 1] = UInt8(truncatingIfNeeded: bits >> 8)
        }
        return Data(bytes)
    }

    /// What OpenAI's `response_format: pcm` promises: 24 kHz s16le mono.
    package func openAIPCMData() -> Data {
        resampled(to: Self.openAIPCMSampleRate).pcmData()
    }

    /// A canonical 44-byte-header WAV: PCM 16-bit mono.
    package func wavData() -> Data {
        let pcm = pcmData()
        var header = Data()
        header.reserveCapacity(44)
        func append32(_ value: Int) { appendLittleEndian(UInt32(truncatingIfNeeded: value), to: &header) }
        func append16(_ value: Int) { appendLittleEndian(UInt16(truncatingIfNeeded: value), to: &header) }
        header.append(contentsOf: Array("RIFF".utf8))
        append32(36 + pcm.count)
        header.append(contentsOf: Array("WAVEfmt ".utf8))
        append32(16)
        append16(1)  // PCM
        append16(1)  // mono
        append32(sampleRate)
        append32(sampleRate * 2)  // bytes per second
        append16(2)  // bytes per frame
        append16(16)  // bits per sample
        header.append(contentsOf: Array("data".utf8))
        append32(pcm.count)
        return header + pcm
    }

    /// The same sound at another rate. Linear interpolation; when going down, a windowed-sinc low-pass runs first
    /// so that what the new rate cannot hold is removed instead of folding back as noise the recognizer would hear.
    /// A rate of zero or less returns the audio unchanged.
    package func resampled(to rate: Int) -> WAVAudio {
        guard rate > 0, sampleRate > 0, rate != sampleRate, !samples.isEmpty else { return self }
        let source = rate < sampleRate ? lowPassed(cutoff: 0.45 * Double(rate) / Double(sampleRate)) : samples.map(Double.init)
        let step = Double(sampleRate) / Double(rate)
        let count = Int((Double(samples.count) / step).rounded(.down))
        var output = [Int16](repeating: 0, count: count)
        let last = source.count - 1
        for index in 0..<count {
            let position = Double(index) * step
            let left = min(Int(position), last)
            let right = min(left + 1, last)
            let fraction = position - Double(left)
            output[index] = Self.clampedSample(source[left] + (source[right] - source[left]) * fraction)
        }
        return WAVAudio(sampleRate: rate, samples: output)
    }

    /// `cutoff` is in cycles per input sample (0.5 is Nyquist). 63 Blackman-windowed taps: cheap next to recognition.
    private func lowPassed(cutoff: Double) -> [Double] {
        let halfWidth = 31
        var taps = [Double](repeating: 0, count: 2 * halfWidth + 1)
        for index in taps.indices {
            let offset = Double(index - halfWidth)
            let sinc = offset == 0 ? 2 * cutoff : sin(2 * Double.pi * cutoff * offset) / (Double.pi * offset)
            let phase = 2 * Double.pi * Double(index) / Double(taps.count - 1)
            taps[index] = sinc * (0.42 - 0.5 * cos(phase) + 0.08 * cos(2 * phase))
        }
        let gain = taps.reduce(0, +)
        let input = samples.map(Double.init)
        var output = [Double](repeating: 0, count: input.count)
        for index in input.indices {
            var sum = 0.0
            let first = max(0, index - halfWidth)
            let last = min(input.count - 1, index + halfWidth)
            for source in first...last {
                sum += input[source] * taps[source - index + halfWidth]
            }
            output[index] = sum / gain
        }
        return output
    }

    static func clampedSample(_ value: Double) -> Int16 {
        guard value.isFinite else { return 0 }
        return Int16(max(-32_768, min(32_767, value.rounded())))
    }
}

private func appendLittleEndian<Value: FixedWidthInteger>(_ value: Value, to data: inout Data) {
    withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
}

/// How much audio one request may bring.
package struct AudioLimits: Sendable, Equatable {
    /// OpenAI's transcription endpoint refuses files over 25 MiB; the same limit keeps clients' behaviour alike here.
    package var maxBytes: Int
    package var maxSeconds: Double
    /// Below this the recognizer has nothing to work with.
    package var minSeconds: Double

    package init(maxBytes: Int = 25 * 1024 * 1024, maxSeconds: Double = 600, minSeconds: Double = 0.1) {
        self.maxBytes = maxBytes
        self.maxSeconds = maxSeconds
        self.minSeconds = minSeconds
    }
}

/// Why an uploaded file is not audio this module can hear; each description says what the sender should change.
package enum SpeechInputError: Error, Equatable, CustomStringConvertible {
    /// `looksLike` names the container when its signature is recognisable (MP3, OGG, FLAC, WebM/MKV, MP4/M4A).
    case notWAV(looksLike: String?)
    case unsupportedEncoding(String)
    case tooLarge(bytes: Int, max: Int)
    case tooLong(seconds: Double, max: Double)
    case tooShort(seconds: Double, min: Double)
    case empty
    case badHeader(String)
    /// A compressed file ffmpeg could not read.
    case undecodable(String)

    private static let wavAdvice = "send a WAV file (RIFF/WAVE, PCM 16-bit, mono, 16 kHz is best)"

    package var description: String {
        switch self {
        case .notWAV(let looksLike):
            let found = looksLike.map { "this looks like \($0); " } ?? "this is not a RIFF/WAVE file; "
            return found + Self.wavAdvice
                + "; MP3/OGG/FLAC/WebM/M4A are not decoded here without ffmpeg (apt-get install ffmpeg on the server), "
                + "or convert first (ffmpeg -i in.mp3 -ac 1 -ar 16000 out.wav)"
        case .unsupportedEncoding(let what):
            return "unsupported WAV encoding: \(what); " + Self.wavAdvice
                + " (8/16/24/32-bit integer or 32/64-bit float PCM, 1–8 channels, 8000–48000 Hz)"
        case .tooLarge(let bytes, let max):
            return "audio is \(bytes) bytes, over the \(max)-byte limit; send a shorter clip or 16 kHz mono 16-bit to make it smaller"
        case .tooLong(let seconds, let max):
            return "audio is \(Self.format(seconds)) s long, over the \(Self.format(max)) s limit; split it into shorter clips"
        case .tooShort(let seconds, let min):
            return "audio is \(Self.format(seconds)) s long, under the \(Self.format(min)) s minimum; record at least a word"
        case .empty:
            return "the WAV file holds no samples; record some speech and " + Self.wavAdvice
        case .badHeader(let what):
            return "the WAV header is damaged: \(what); " + Self.wavAdvice
        case .undecodable(let why):
            return "the audio could not be decoded (\(String(why.prefix(300)))); send WAV, MP3, OGG, WebM, M4A or FLAC that plays"
        }
    }

    private static func format(_ seconds: Double) -> String {
        String(format: "%.2f", seconds)
    }
}

extension WAVAudio {
    /// Reads a WAV upload into mono 16-bit samples, checking it against `limits` before decoding the samples.
    /// Accepts RIFF and RF64 (whose 64-bit sizes are ignored: the data then runs to the end), `fmt ` and `data` chunks in
    /// any order among other chunks (LIST, fact, …), and a data size of 0xFFFFFFFF or one past the end of the file,
    /// which streaming writers (espeak-ng --stdout among them) leave behind: the data then runs to the end.
    package static func parse(_ data: Data, limits: AudioLimits = AudioLimits()) throws(SpeechInputError) -> WAVAudio {
        guard !data.isEmpty else { throw .empty }
        guard data.count <= limits.maxBytes else { throw .tooLarge(bytes: data.count, max: limits.maxBytes) }
        let bytes = [UInt8](data)
        guard bytes.count >= 12, ["RIFF", "RF64"].contains(ascii(bytes, 0)), ascii(bytes, 8) == "WAVE" else {
            throw .notWAV(looksLike: containerName(bytes))
        }
        let layout = try findChunks(bytes)
        let format = try SampleFormat(fmt: layout.fmt)
        let frameCount = (layout.data.upperBound - layout.data.lowerBound) / format.frameSize
        guard frameCount > 0 else { throw .empty }
        let seconds = Double(frameCount) / Double(format.sampleRate)
        guard seconds <= limits.maxSeconds else { throw .tooLong(seconds: seconds, max: limits.maxSeconds) }
        guard seconds >= limits.minSeconds else { throw .tooShort(seconds: seconds, min: limits.minSeconds) }
        let samples = format.decodeMono(bytes, from: layout.data.lowerBound, frames: frameCount)
        return WAVAudio(sampleRate: format.sampleRate, samples: samples)
    }

    private static func findChunks(_ bytes: [UInt8]) throws(SpeechInputError) -> (fmt: ArraySlice<UInt8>, data: Range<Int>) {
        var fmt: ArraySlice<UInt8>?
        var data: Range<Int>?
        var offset = 12
        while offset + 8 <= bytes.count, fmt == nil || data == nil {
            let id = ascii(bytes, offset)
            let declared = Int(readUInt32(bytes, offset + 4))
            let start = offset + 8
            let runsToEnd = declared == 0xFFFF_FFFF || start + declared > bytes.count
            let end = runsToEnd ? bytes.count : start + declared
            if id == "fmt " {
                fmt = bytes[start..<end]
            } else if id == "data" {
                data = start..<end
            }
            if runsToEnd { break }
            offset = end + (declared & 1)  // chunks are padded to an even length
        }
        guard let fmt else { throw .badHeader("no 'fmt ' chunk describing the samples") }
        guard let data else { throw .badHeader("no 'data' chunk holding the samples") }
        return (fmt, data)
    }

    /// Names the container of a non-WAV upload from its first bytes, so the error can say what was sent.
    private static func containerName(_ bytes: [UInt8]) -> String? {
        let head = bytes.prefix(12)
        if head.starts(with: Array("ID3".utf8)) || (head.count >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) { return "MP3" }
        if head.starts(with: Array("OggS".utf8)) { return "OGG (Opus/Vorbis)" }
        if head.starts(with: Array("fLaC".utf8)) { return "FLAC" }
        if head.starts(with: [0x1A, 0x45, 0xDF, 0xA3]) { return "WebM/Matroska" }
        if head.count >= 8, ascii(bytes, 4) == "ftyp" { return "MP4/M4A" }
        if head.starts(with: Array("RIFF".utf8)) { return "a RIFF file that is not WAVE" }
        return nil
    }
}

/// The `fmt ` chunk, reduced to what decoding needs.
private struct SampleFormat {
    enum Encoding {
        case integer
        case float
    }

    let encoding: Encoding
    let channels: Int
    let sampleRate: Int
    let bytesPerSample: Int

    var frameSize: Int { channels * bytesPerSample }

    init(fmt: ArraySlice<UInt8>) throws(SpeechInputError) {
        let chunk = Array(fmt)
        guard chunk.count >= 16 else { throw .badHeader("the 'fmt ' chunk is \(chunk.count) bytes, shorter than 16") }
        var tag = Int(readUInt16(chunk, 0))
        channels = Int(readUInt16(chunk, 2))
        sampleRate = Int(readUInt32(chunk, 4))
        let bits = Int(readUInt16(chunk, 14))
        if tag == 0xFFFE {
            // WAVE_FORMAT_EXTENSIBLE: the real format tag is the first two bytes of the sub-format GUID.
            guard chunk.count >= 26 else { throw .badHeader("WAVE_FORMAT_EXTENSIBLE without its sub-format") }
            tag = Int(readUInt16(chunk, 24))
        }
        switch (tag, bits) {
        case (1, 8), (1, 16), (1, 24), (1, 32): encoding = .integer
        case (3, 32), (3, 64): encoding = .float
        case (1, _), (3, _): throw .unsupportedEncoding("\(bits)-bit \(tag == 1 ? "integer" : "float") samples")
        default: throw .unsupportedEncoding(Self.formatName(tag))
        }
        bytesPerSample = bits / 8
        guard (1...8).contains(channels) else { throw .unsupportedEncoding("\(channels) channels") }
        guard (8000...48000).contains(sampleRate) else { throw .unsupportedEncoding("a sample rate of \(sampleRate) Hz") }
    }

    private static func formatName(_ tag: Int) -> String {
        switch tag {
        case 2: "MS ADPCM"
        case 6: "A-law"
        case 7: "μ-law"
        case 0x11: "IMA ADPCM"
        case 0x31: "GSM 6.10"
        case 0x55: "MP3 inside WAV"
        default: "format tag 0x" + String(tag, radix: 16)
        }
    }

    /// Averages the channels of each frame, in floating point so that loud stereo does not clip before it is halved.
    func decodeMono(_ bytes: [UInt8], from start: Int, frames: Int) -> [Int16] {
        var output = [Int16](repeating: 0, count: frames)
        for frame in 0..<frames {
            var sum = 0.0
            for channel in 0..<channels {
                sum += sample(bytes, at: start + frame * frameSize + channel * bytesPerSample)
            }
            output[frame] = WAVAudio.clampedSample(sum / Double(channels) * 32_768)
        }
        return output
    }

    /// One sample scaled to -1...1.
    private func sample(_ bytes: [UInt8], at offset: Int) -> Double {
        switch (encoding, bytesPerSample) {
        case (.integer, 1): return (Double(bytes[offset]) - 128) / 128  // 8-bit WAV is unsigned
        case (.integer, 2): return Double(Int16(bitPattern: readUInt16(bytes, offset))) / 32_768
        case (.integer, 3):
            let raw = UInt32(bytes[offset]) << 8 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 24
            return Double(Int32(bitPattern: raw)) / 2_147_483_648
        case (.integer, _): return Double(Int32(bitPattern: readUInt32(bytes, offset))) / 2_147_483_648
        case (.float, 4): return Double(Float(bitPattern: readUInt32(bytes, offset)))
        case (.float, _):
            let value = UInt64(readUInt32(bytes, offset)) | UInt64(readUInt32(bytes, offset + 4)) << 32
            return Double(bitPattern: value)
        }
    }
}

private func ascii(_ bytes: [UInt8], _ offset: Int) -> String {
    guard offset + 4 <= bytes.count else { return "" }
    return String(decoding: bytes[offset..<offset + 4], as: UTF8.self)
}

private func readUInt16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
    UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
}

private func readUInt32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
}

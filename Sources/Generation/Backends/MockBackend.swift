import Crypto
import Foundation

/// The embedded default: renders a real PNG, the same for the same prompt and seed, after a
/// configurable delay, so the whole system runs without a GPU. The picture is a small preview
/// (longest side 64 px, a few kilobytes, so the mock measures the queue rather than a renderer)
/// with the requested aspect ratio; the result reports the requested size.
/// It "loads" whatever checkpoint a job names, so the scheduler's swap counting works with it.
public struct MockBackend: GenerationBackend {
    public let name: String
    public let delay: Duration

    public init(name: String = "mock@local", delay: Duration = .zero) {
        self.name = name
        self.delay = delay
    }

    public func loadedModel() async throws -> String? { nil }

    public func check() async throws {}

    public func generate(_ job: BackendJob, progress: @escaping @Sendable (Double) -> Void) async throws -> GeneratedImage {
        if delay > .zero {
            try await Task.sleep(for: delay / 2)
            progress(0.5)
            try await Task.sleep(for: delay / 2)
        }
        try Task.checkCancellation()
        return Self.render(job.params, seed: job.seed)
    }

    static func render(_ params: GenerationParams, seed: Int64) -> GeneratedImage {
        let scale = 64.0 / Double(max(params.width, params.height))
        let width = max(8, Int(Double(params.width) * scale))
        let height = max(8, Int(Double(params.height) * scale))
        let digest = Array(SHA256.hash(data: Data("\(params.prompt)|\(params.negative_prompt ?? "")|\(seed)".utf8)))
        let d = digest.map(Int.init)
        // Red runs left to right, green top to bottom, blue is a 16 px checker: red is the same
        // in every row, so it is computed once per column.
        let reds = (0..<width).map { x in UInt8((d[0] * (width - x) + d[3] * x) / width) }
        let blues = [UInt8(d[2]), UInt8(d[2] ^ d[5])]
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeMutableBufferPointer { out in
            var i = 0
            for y in 0..<height {
                let green = UInt8((d[1] * (height - y) + d[4] * y) / height)
                for x in 0..<width {
                    out[i] = reds[x]
                    out[i + 1] = green
                    out[i + 2] = blues[(x / 16 + y / 16) % 2]
                    i += 3
                }
            }
        }
        return GeneratedImage(png: PNGEncoder.encode(width: width, height: height, rgb: pixels), width: params.width,
                              height: params.height)
    }
}

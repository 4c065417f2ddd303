import Crypto
import Foundation

/// The embedded default: renders a real PNG, the same for the same prompt and seed, after a
/// configurable delay, so the whole system runs without a GPU. The picture is a small preview
/// (longest side 64 px, a few kilobytes, so the mock measures the queue rather than a renderer)
/// with the requested aspect ratio; the result reports the requested size.
/// It "loads" whatever checkpoint a job names, so the scheduler's swap counting works with it.
package struct MockBackend: GenerationBackend {
    package let name: String
    package let delay: Duration

    package init(name: String = "mock@local", delay: Duration = .zero) {
        self.name = name
        self.delay = delay
    }

    package func loadedModel() async throws -> String? { nil }

    package func check() async throws {}

    package func generate(_ job: BackendJob, progress: @escaping @Sendable (Double) -> Void) async throws -> GeneratedImage {
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
        // Red runs left to right, green top to bottom, blue is a 16 px checker. Rows are copies
        // of one of two templates (the checker's two phases) with their green filled in.
        let stride = width * 3
        let templates = (0..<2).map { phase in
            var row = [UInt8](repeating: 0, count: stride)
            for x in 0..<width {
                row[3 * x] = UInt8((d[0] * (width - x) + d[3] * x) / width)
                row[3 * x + 2] = UInt8((x / 16 + phase) % 2 == 0 ? d[2] : d[2] ^ d[5])
            }
            return row
        }
        var pixels = [UInt8](repeating: 0, count: stride * height)
        pixels.withUnsafeMutableBufferPointer { out in
            for y in 0..<height {
                let row = UnsafeMutableBufferPointer(rebasing: out[(y * stride)..<((y + 1) * stride)])
                _ = row.update(fromContentsOf: templates[(y / 16) % 2])
                let green = UInt8((d[1] * (height - y) + d[4] * y) / height)
                for x in Swift.stride(from: 1, to: stride, by: 3) { row[x] = green }
            }
        }
        // Each row differs from the one above by one step of green (and blue at the checker's
        // edges), so Up-filtered rows are near-constant patterns that deflate to a few matches.
        return GeneratedImage(
            png: PNGEncoder.encode(width: width, height: height, rgb: pixels, filter: .up),
            width: params.width,
            height: params.height
        )
    }
}

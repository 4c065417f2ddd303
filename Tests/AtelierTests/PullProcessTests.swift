import Foundation
import Hub
import Testing

/// `atelier pull` as a separate process: killed with SIGKILL mid-download, run again, it resumes
/// and the file ends up whole.
@Suite("atelier pull, killed and resumed", .timeLimit(.minutes(10)))
struct PullProcessTests {
    @Test("kill -9 in the middle of a pull, then pull again: finished pieces are not fetched twice and the hash is right")
    func killAndResume() async throws {
        let cdn = try await FakeFileServer.start()
        let data = safetensorsContent(size: 6 << 20, seed: 21)
        let sha = FakeFileServer.sha256(data)
        cdn.add("resume.safetensors", data)
        cdn.behave { $0.bytesPerSecond = 1 << 20 }
        let (baseEnv, dir) = try ProcessTests.installation()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var env = baseEnv
        env["ATELIER_ALLOW_PRIVATE_HOSTS"] = "true"
        let out = (dir as NSString).appendingPathComponent("out")
        let dataDir = try #require(env["ATELIER_DATA_DIR"])
        let workDir = (dataDir as NSString).appendingPathComponent("tmp")
        // A plain URL with no hash known up front: resume must still produce the right bytes.
        let arguments = ["pull", cdn.url("resume.safetensors"), "--to", out, "--connections", "4"]

        let process = Process()
        process.executableURL = try AtelierBinary.url()
        process.arguments = arguments
        process.environment = env.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until the sidecar records some finished pieces, then kill without warning. On
        // PostgreSQL the pull first waits for the migration lock every test's installation takes in
        // turn, which took over a minute on a loaded CI machine.
        // The pieces the sidecar says are finished (their indexes), as last read before the kill.
        var finished: [Int] = []
        let deadline = ContinuousClock.now + .seconds(180)
        while finished.count < 3 && ContinuousClock.now < deadline && process.isRunning {
            try await Task.sleep(for: .milliseconds(50))
            let sidecar = (try? FileManager.default.contentsOfDirectory(atPath: workDir))?.first { $0.hasSuffix(".part.json") }
            let map =
                sidecar.flatMap { FileManager.default.contents(atPath: (workDir as NSString).appendingPathComponent($0)) }
                .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
                .flatMap { $0["pieces"] as? String } ?? ""
            finished = map.enumerated().filter { $0.element == "1" }.map(\.offset)
        }
        #expect(finished.count >= 3)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(!FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent("resume.safetensors")))
        // The killed process's requests have all arrived once the server is quiet; later ones are the second run's.
        let firstRunRequests = try await cdn.settledRecordCount()

        cdn.behave { $0.bytesPerSecond = nil }
        let again = try await AtelierBinary.run(arguments, environment: env, directory: dir)
        #expect(again.status == 0, "\(again.stderr)")
        let path = (out as NSString).appendingPathComponent("resume.safetensors")
        #expect(FileManager.default.contents(atPath: path) == data)
        #expect(try FileHashing.sha256(path: path).sha256 == sha)
        #expect(again.stderr.contains("resumed") || again.stdout.contains(path))
        // The second run asked for no piece (256 KiB each for this size) the first had finished.
        // (Its requests may overlap each other: a slow connection's tail is handed to an idle one.)
        let secondRun = Array(cdn.records.dropFirst(firstRunRequests))
        let piece: Int64 = 256 << 10
        for record in secondRun {
            guard let range = record.range, range.hasPrefix("bytes="), range != "bytes=0-0" else { continue }
            let bounds = range.dropFirst(6).split(separator: "-").compactMap { Int64($0) }
            guard bounds.count == 2 else { continue }
            let again = finished.filter { Int64($0) * piece <= bounds[1] && bounds[0] < Int64($0 + 1) * piece }
            #expect(again.isEmpty, "\(range) asks again for finished pieces \(again)")
        }
        #expect(FakeFileServer.requestedBytes(secondRun) < Int64(data.count), "less than the whole file")
        await TestDatabase.cleanUp(env)
        await cdn.stop()
    }
}

import Foundation
import Testing

/// The data dir holds the database (and with it the token signing key): other local accounts
/// must not be able to read it.
@Suite("Secrets at rest", .timeLimit(.minutes(2)))
struct SecretsAtRestTests {
    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require(attributes[.posixPermissions] as? Int) & 0o777
    }

    @Test("a new data dir is 0700 and the SQLite file 0600")
    func privateDataDir() async throws {
        let parent = TestDatabase.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dataDir = (parent as NSString).appendingPathComponent("data")
        var installation = try TestDatabase.settings(dataDir: dataDir)
        installation["ATELIER_DATA_DIR"] = dataDir
        try await TestApp.run(installation: installation) { _ in
            let dirMode = try Self.mode(dataDir)
            #expect(dirMode == 0o700)
            let database = (dataDir as NSString).appendingPathComponent("atelier.sqlite")
            if TestDatabase.kind == .sqlite {
                let fileMode = try Self.mode(database)
                #expect(fileMode == 0o600)
                for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: database + suffix) {
                    let sideMode = try Self.mode(database + suffix)
                    #expect(sideMode == 0o600, "\(suffix)")
                }
            }
        }
        await TestDatabase.cleanUp(installation)
    }
}

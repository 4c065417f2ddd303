import Core
import Foundation
import Testing

/// The zip reader the studio uses to look into a person's archive: what our writer (and any
/// unzip) produces is read back; anything damaged or truncated is a clear error, never a crash.
@Suite("Zip directory")
struct ZipDirectoryTests {
    static func archive(_ names: [String]) -> Data {
        var archive = ZipArchive()
        for name in names { archive.add(name: name, contents: Data("bytes of \(name)".utf8)) }
        return archive.finish()
    }

    @Test("entries, their sizes and method; the photos a training takes")
    func readsEntries() throws {
        let zip = Self.archive(["a/1.JPG", "a/2.png", "a/", "__MACOSX/a/._1.JPG", "a/.DS_Store", "a/3.webp", "notes.txt"])
        let directory = try ZipDirectory(zip)
        #expect(directory.entries.map(\.name) == ["a/1.JPG", "a/2.png", "a/", "__MACOSX/a/._1.JPG", "a/.DS_Store", "a/3.webp", "notes.txt"])
        #expect(directory.entries[0].size == UInt32("bytes of a/1.JPG".utf8.count))
        #expect(directory.entries[0].method == 0)
        #expect(directory.entries[2].isDirectory)
        // A comment after the end record is allowed by the format.
        var commented = zip
        commented.replaceSubrange((commented.count - 2)..<commented.count, with: [5, 0])
        commented.append(Data("hello".utf8))
        #expect(try ZipDirectory(commented).entries.count == 7)
    }

    @Test("not a zip, truncated, a directory pointing past the data, too many entries: errors")
    func refusesDamage() throws {
        #expect(throws: ZipDirectory.ReadError.notZip) { try ZipDirectory(Data("this is not a zip".utf8)) }
        #expect(throws: ZipDirectory.ReadError.notZip) { try ZipDirectory(Data()) }
        let zip = Self.archive(["1.jpg", "2.jpg"])
        // Cut anywhere: never a crash, always an error.
        for length in stride(from: 0, to: zip.count, by: 3) {
            #expect(throws: ZipDirectory.ReadError.self) { try ZipDirectory(zip.prefix(length)) }
        }
        // The end record's directory offset moved past the data.
        var moved = zip
        moved[moved.count - 6] = 0xF0
        #expect(throws: ZipDirectory.ReadError.self) { try ZipDirectory(moved) }
        // An entry's name length made huge.
        var named = zip
        let directoryStart = Int(zip[zip.count - 6]) | Int(zip[zip.count - 5]) << 8
        named[directoryStart + 28] = 0xFF
        named[directoryStart + 29] = 0xFF
        #expect(throws: ZipDirectory.ReadError.self) { try ZipDirectory(named) }
        #expect(throws: ZipDirectory.ReadError.unsupported("more than 1 entries")) { try ZipDirectory(zip, maxEntries: 1) }
    }
}

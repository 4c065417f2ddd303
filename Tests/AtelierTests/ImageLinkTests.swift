import AtelierApp
import Atomics
import CompressNIO
import Core
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SQLKit
import Storage
import Testing

@testable import Generation

@Suite("Image links: public, signed and expiring", .timeLimit(.minutes(5)))
struct ImageLinkTests {
    @Test("private images: signed URLs work without credentials until they expire; plain URLs need the owner")
    func signedLinks() async throws {
        try await TestApp.run(["ATELIER_IMAGES_PUBLIC": "false", "ATELIER_GENERATIONS_PER_HOUR": "0"]) { app in
            let (_, alice) = try await app.makeUser("alice")
            let (_, bob) = try await app.makeUser("bob")
            let created = try await app.request(.post, "/api/v1/generations", token: alice, json: #"{"prompt": "a secret garden"}"#)
            let id = try #require(created.json["id"] as? String)
            var job: [String: Any] = [:]
            for _ in 0..<200 where job["status"] as? String != "success" {
                job = try await app.request(.get, "/api/v1/generations/\(id)", token: alice).json
                try await Task.sleep(for: .milliseconds(20))
            }
            let result = try #require(job["result"] as? [String: Any])
            let signed = try #require((result["image_urls"] as? [String])?.first)
            let hash = try #require((result["images"] as? [String])?.first)
            #expect(signed.contains("?expires=") && signed.contains("&sig="))
            #expect(try await app.request(.get, signed).status == .ok)
            #expect(try await app.request(.get, "/images/\(hash).png").status == .unauthorized)
            #expect(try await app.request(.get, "/images/\(hash).png", token: alice).status == .ok)
            #expect(try await app.request(.get, "/images/\(hash).png", token: bob).status == .notFound)
            let tampered = signed.replacingOccurrences(of: "sig=", with: "sig=x")
            #expect(try await app.request(.get, tampered).status == .forbidden)
            let expired = app.runtime.generation.links.signed(hash, expires: Int64(Date().timeIntervalSince1970) - 5)
            let gone = try await app.request(.get, expired)
            #expect(gone.status == .forbidden)
            #expect((gone.json["detail"] as? String)?.contains("expired") == true)

            let share = try await app.request(.post, "/api/v1/generations/\(id)/share", token: alice, json: #"{"expires_in": 120}"#)
            #expect(try await app.request(.get, try #require(share.json["url"] as? String)).status == .ok)
            #expect(try await app.request(.post, "/api/v1/generations/\(id)/share", token: bob, json: "{}").status == .notFound)
            let bad = try await app.request(.post, "/api/v1/generations/\(id)/share", token: alice, json: #"{"expires_in": 5}"#)
            #expect(bad.status == .unprocessableContent)
        }
    }
}

import Accounts
import ArgumentParser
import AtelierApp
import Core
import Foundation

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Manage API keys (sent as Authorization: Bearer or X-Token).",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key for an account; prints the key once.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Username or id of the key's owner.") var user: String
        @Option(help: "A name to recognise the key by.") var name: String = "cli"
        @Option(help: "Days until the key expires (default: never).") var expiresInDays: Int?

        func run() async throws {
            try await CLIErrors.report {
                let runtime = try await common.open()
                let result = await Result {
                    try await runtime.accounts.createKey(
                        owner: try await runtime.accounts.find(user),
                        name: name,
                        expiresInDays: expiresInDays
                    )
                }
                await runtime.close()
                let (key, plaintext) = try result.get()
                printError("created key \(key.id) (\(APIKey.scheme)\(key.prefix)…) for \(user); it is shown only now:")
                print(plaintext.value)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List API keys (without their secrets).")
        @OptionGroup var common: CommonOptions
        @Option(help: "Only this account's keys (username or id).") var user: String?

        func run() async throws {
            try await CLIErrors.report {
                let runtime = try await common.open()
                let result = await Result { () -> [APIKey] in
                    var scope = OwnerScope.all
                    if let user { scope = .owner(try await runtime.accounts.find(user).id) }
                    var keys: [APIKey] = []
                    var page = PageRequest(limit: PageRequest.maxLimit)
                    while true {
                        let batch = try await runtime.accounts.keys.list(scope: scope, page: page)
                        keys += batch.prefix(page.limit)
                        guard batch.count > page.limit, let last = keys.last else { break }
                        page.after = last.id
                    }
                    return keys
                }
                await runtime.close()
                let formatter = ISO8601DateFormatter()
                let rows = try result.get().map { key in
                    [
                        key.id, APIKey.scheme + key.prefix, key.name, key.ownerID,
                        key.revokedAt != nil ? "revoked" : (key.expiresAt.map { $0 < Timestamp.millis(Date()) } == true ? "expired" : "active"),
                        key.lastUsedAt.map { formatter.string(from: Timestamp.date($0)) } ?? "never",
                    ]
                }
                Table.print(header: ["ID", "PREFIX", "NAME", "OWNER", "STATUS", "LAST USED"], rows: rows)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key; it stops working at once.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The key's id (from `atelier key list`).") var id: String

        func run() async throws {
            try await CLIErrors.report {
                let runtime = try await common.open()
                let result = await Result { try await runtime.accounts.revokeKey(id: id, scope: .all) }
                await runtime.close()
                print("revoked \(try result.get().id)")
            }
        }
    }
}

import Core
import Hummingbird

/// `/api/v1/keys`: each user manages their own API keys; admins see everyone's. Another owner's
/// key answers 404.
package enum APIKeyRoutes {
    package static func register(on table: RouteTable, accounts: AccountService) {
        table.schema("APIKey", AccountsSchemas.apiKey)
        let tags = ["keys"]
        let keyRef = Schema.ref("APIKey")

        table.get(
            "/api/v1/keys",
            OperationDoc(
                "List your API keys (admins: all keys)",
                tags: tags,
                auth: .role(.guest),
                parameters: PageRequest.parameters,
                responses: [.init(200, "A page of keys", schema: Schema.page(of: keyRef))]
            )
        ) { request, context in
            let principal = try context.requirePrincipal()
            let page = try PageRequest(request: request)
            let keys = try await accounts.keys.list(scope: OwnerScope(principal), page: page)
            return Page(fetched: keys.map { APIKeyResponse($0) }, request: page, id: \.id)
        }

        table.post(
            "/api/v1/keys",
            OperationDoc(
                "Create an API key for yourself; the whole key is in this answer only",
                tags: tags,
                auth: .writer,
                request: AccountsSchemas.createKey,
                responses: [.init(201, "Created key, with `key`", schema: keyRef)]
            )
        ) { request, context in
            let principal = try context.requireWriter()
            let body = try await request.decodeJSON(CreateKeyRequest.self, context: context)
            guard let owner = try await accounts.users.find(id: principal.userID) else {
                throw AppError.unauthorized("the account of this token no longer exists")
            }
            let (key, plaintext) = try await accounts.createKey(owner: owner, name: body.name, expiresInDays: body.expires_in_days)
            return JSONResponse(.created, APIKeyResponse(key, plaintext: plaintext.value))
        }

        table.get(
            "/api/v1/keys/{id}",
            OperationDoc(
                "Get one of your API keys",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "Key", schema: keyRef)]
            )
        ) { _, context in
            let scope = OwnerScope(try context.requirePrincipal())
            let id = try context.parameters.require("id")
            let key = try scope.require(
                try await accounts.keys.find(id: id, scope: scope),
                owner: \.ownerID,
                notFound: "API key \(id) not found"
            )
            return APIKeyResponse(key)
        }

        table.delete(
            "/api/v1/keys/{id}",
            OperationDoc(
                "Revoke one of your API keys",
                tags: tags,
                auth: .writer,
                responses: [.init(200, "Revoked key", schema: keyRef)]
            )
        ) { _, context in
            let principal = try context.requireWriter()
            let id = try context.parameters.require("id")
            return APIKeyResponse(try await accounts.revokeKey(id: id, scope: OwnerScope(principal)))
        }
    }
}

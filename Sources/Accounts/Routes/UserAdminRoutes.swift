import Core
import Hummingbird

/// Admin user management: `/admin/users` (seed 004's CRUD pattern). Admins only.
package enum UserAdminRoutes {
    package static func register(on table: RouteTable, accounts: AccountService) {
        let tags = ["users"]
        let userRef = Schema.ref("User")

        table.get(
            "/admin/users",
            OperationDoc(
                "List users",
                tags: tags,
                auth: .role(.admin),
                parameters: PageRequest.parameters,
                responses: [.init(200, "A page of users", schema: Schema.page(of: userRef))]
            )
        ) { request, context in
            _ = try context.require(.admin)
            let page = try PageRequest(request: request)
            let users = try await accounts.users.list(page: page)
            return Page(fetched: users.map(UserResponse.init), request: page, id: \.id)
        }

        table.post(
            "/admin/users",
            OperationDoc(
                "Create a user (role defaults to user)",
                tags: tags,
                auth: .role(.admin),
                request: AccountsSchemas.createUser,
                responses: [.init(201, "Created user", schema: userRef)],
                errors: [409]
            )
        ) { request, context in
            _ = try context.require(.admin)
            let body = try await request.decodeJSON(CreateUserRequest.self, context: context)
            let role = try body.role.map { try UserInput.role($0) } ?? .user
            let user = try await accounts.createUser(
                username: body.username,
                password: body.password,
                role: role,
                displayName: body.display_name,
                email: body.email
            )
            return JSONResponse(.created, UserResponse(user))
        }

        table.get(
            "/admin/users/{id}",
            OperationDoc(
                "Get a user",
                tags: tags,
                auth: .role(.admin),
                responses: [.init(200, "User", schema: userRef)]
            )
        ) { _, context in
            _ = try context.require(.admin)
            return UserResponse(try await user(context, accounts))
        }

        table.put(
            "/admin/users/{id}",
            OperationDoc(
                "Update a user's role, profile, password or disabled flag",
                tags: tags,
                auth: .role(.admin),
                request: AccountsSchemas.updateUser,
                responses: [.init(200, "Updated user", schema: userRef)],
                errors: [409]
            )
        ) { request, context in
            _ = try context.require(.admin)
            let body = try await request.decodeJSON(UpdateUserRequest.self, context: context)
            let changes = AccountService.Changes(
                role: try body.role.map { try UserInput.role($0) },
                displayName: body.display_name,
                email: body.email,
                disabled: body.disabled,
                password: body.password
            )
            return UserResponse(try await accounts.update(try await user(context, accounts), changes))
        }

        for (action, disabled) in [("disable", true), ("enable", false)] {
            table.post(
                "/admin/users/{id}/\(action)",
                OperationDoc(
                    disabled ? "Disable a user: their tokens and keys stop working" : "Enable a disabled user",
                    tags: tags,
                    auth: .role(.admin),
                    responses: [.init(200, "Updated user", schema: userRef)],
                    errors: [409]
                )
            ) { _, context in
                _ = try context.require(.admin)
                return UserResponse(try await accounts.update(try await user(context, accounts), .init(disabled: disabled)))
            }
        }

        table.delete(
            "/admin/users/{id}",
            OperationDoc(
                "Delete a user and their API keys",
                tags: tags,
                auth: .role(.admin),
                responses: [.init(204, "Deleted")],
                errors: [409]
            )
        ) { _, context in
            _ = try context.require(.admin)
            try await accounts.delete(try await user(context, accounts))
            return Response(status: .noContent)
        }
    }

    static func user(_ context: AppRequestContext, _ accounts: AccountService) async throws -> User {
        let id = try context.parameters.require("id")
        guard let user = try await accounts.users.find(id: id) else { throw AppError.notFound("user \(id) not found") }
        return user
    }
}

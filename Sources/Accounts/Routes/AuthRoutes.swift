import Core
import Hummingbird

/// Seed 004's authentication routes, with its request and response shapes.
package enum AuthRoutes {
    package static func register(on table: RouteTable, accounts: AccountService) {
        table.schema("User", AccountsSchemas.user)
        let tags = ["auth", "compat"]

        table.post(
            "/admin/auth/login",
            OperationDoc(
                "Log in with username and password; returns a bearer access token",
                tags: tags,
                auth: .none,
                request: AccountsSchemas.login,
                responses: [.init(200, "Access token", schema: AccountsSchemas.token)],
                errors: [401, 429]
            )
        ) { request, context in
            let body = try await request.decodeJSON(LoginRequest.self, context: context)
            let (_, issued) = try await accounts.login(
                username: body.username,
                password: body.password,
                address: context.clientAddress
            )
            return LoginResponse(access_token: issued.token, expires_in: issued.expiresIn)
        }

        table.get(
            "/admin/auth/me",
            OperationDoc(
                "The logged-in user",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "Current user", schema: Schema.ref("User"))]
            )
        ) { _, context in
            UserResponse(try await currentUser(context, accounts))
        }

        table.get(
            "/admin/auth/status",
            OperationDoc(
                "Whether the request is authenticated, and as whom",
                tags: tags,
                auth: .optional,
                responses: [.init(200, "Authentication status", schema: AccountsSchemas.status)]
            )
        ) { _, context in
            guard context.principal != nil else { return AuthStatusResponse(authenticated: false, user: nil) }
            return AuthStatusResponse(authenticated: true, user: UserResponse(try await currentUser(context, accounts)))
        }

        table.get(
            "/admin/auth/profile",
            OperationDoc(
                "The logged-in user's profile",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "Profile", schema: Schema.ref("User"))]
            )
        ) { _, context in
            UserResponse(try await currentUser(context, accounts))
        }

        table.put(
            "/admin/auth/profile",
            OperationDoc(
                "Update display name and e-mail (send null to clear)",
                tags: tags,
                auth: .writer,
                request: AccountsSchemas.profileUpdate,
                responses: [.init(200, "Updated profile", schema: Schema.ref("User"))]
            )
        ) { request, context in
            _ = try context.requireWriter()
            let body = try await request.decodeJSON(ProfileUpdate.self, context: context)
            let user = try await currentUser(context, accounts)
            let updated = try await accounts.update(user, .init(displayName: body.display_name, email: body.email))
            return UserResponse(updated)
        }

        table.post(
            "/admin/auth/change-password",
            OperationDoc(
                "Change your password; tokens issued before the change stop working",
                tags: tags,
                auth: .writer,
                request: AccountsSchemas.changePassword,
                responses: [.init(200, "Password changed", schema: AccountsSchemas.statusMessage)]
            )
        ) { request, context in
            _ = try context.requireWriter()
            let body = try await request.decodeJSON(ChangePasswordRequest.self, context: context)
            let user = try await currentUser(context, accounts)
            _ = try await accounts.changePassword(user, current: body.current_password, new: body.new_password)
            return StatusMessage(message: "password changed; log in again with the new password")
        }
    }

    static func currentUser(_ context: AppRequestContext, _ accounts: AccountService) async throws -> User {
        let principal = try context.requirePrincipal()
        guard let user = try await accounts.users.find(id: principal.userID) else {
            throw AppError.unauthorized("the account of this token no longer exists")
        }
        return user
    }
}

extension LoginResponse: ResponseEncodable {}
extension UserResponse: ResponseEncodable {}
extension AuthStatusResponse: ResponseEncodable {}
extension StatusMessage: ResponseEncodable {}
extension APIKeyResponse: ResponseEncodable {}

import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `POST /api/v1/replicate/webhook`: where Replicate reports completed predictions when
/// ATELIER_PUBLIC_URL is set. No credentials: the Standard Webhooks signature is the proof.
package enum ReplicateWebhookRoutes {
    struct Received: ResponseEncodable {
        var received = true
        var prediction_id: String
    }

    package static func register(on table: RouteTable, webhooks: ReplicateWebhooks) {
        table.post(
            ReplicateWebhooks.path,
            OperationDoc(
                "Replicate's completion callback for a prediction (signed: webhook-id, webhook-timestamp, webhook-signature)",
                tags: ["workers"],
                auth: .none,
                parameters: [.header("webhook-signature", "v1,<base64 HMAC-SHA256> with the account's webhook signing secret")],
                responses: [
                    .init(
                        200,
                        "Delivered to the job waiting for it",
                        schema: Schema.object(
                            [("received", Schema.boolean), ("prediction_id", Schema.string)],
                            required: ["received", "prediction_id"]
                        )
                    )
                ],
                errors: [401, 422]
            )
        ) { request, context in
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: min(context.maxUploadSize, 4 << 20))
            } catch is NIOTooManyBytesError {
                throw AppError.tooLarge("a Replicate webhook body is at most 4 MiB")
            }
            func header(_ name: String) -> String? { request.headers[HTTPField.Name(name)!] }
            let id = try await webhooks.receive(
                id: header("webhook-id"),
                timestamp: header("webhook-timestamp"),
                signatures: header("webhook-signature"),
                body: Data(buffer: body)
            )
            return Received(prediction_id: id)
        }
    }
}

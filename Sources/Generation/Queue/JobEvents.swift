/// Where finished jobs are announced (webhooks, the bot). Called once a job is final.
package struct JobEvents: Sendable {
    let onFinish: (@Sendable (Job) -> Void)?

    package init(onFinish: (@Sendable (Job) -> Void)? = nil) { self.onFinish = onFinish }

    var hasListener: Bool { onFinish != nil }

    package func finished(_ job: Job) { onFinish?(job) }
}

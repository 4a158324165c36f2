import ArgumentParser
import ChatCore

/// Permissions on the command line by the names the JSON output uses (`view`, `comment`, `edit`,
/// `admin`): the one list of names is ``Permission/allCases``.
extension Permission: ExpressibleByArgument {
    public init?(argument: String) {
        guard let permission = Permission.allCases.first(where: { $0.description == argument }) else { return nil }
        self = permission
    }

    public static var allValueStrings: [String] { allCases.map(\.description) }

    public var defaultValueDescription: String { description }
}

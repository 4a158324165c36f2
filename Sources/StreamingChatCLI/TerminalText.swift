import ArgumentParser
import Foundation

/// Text from other members made safe to print on a terminal: a message or a name is data, and
/// must never move the cursor, change colours or send a query to the terminal (escape
/// injection). Every C0 control, DEL and C1 control (U+0080–U+009F, which include the one-byte
/// CSI U+009B) becomes U+FFFD; so do the bidirectional overrides and isolates that can make a
/// line read differently from what it holds. Line breaks become spaces where one line is printed.
enum TerminalText {
    /// `text` with every unsafe scalar replaced; line breaks become spaces when `singleLine`.
    /// - Complexity: O(text length).
    static func safe(_ text: String, singleLine: Bool = true) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\n" {
                scalars.append(singleLine ? " " : scalar)
            } else if isUnsafe(scalar) {
                scalars.append("\u{FFFD}")
            } else {
                scalars.append(scalar)
            }
        }
        return String(scalars)
    }

    /// True for C0 controls, DEL, C1 controls and bidirectional overrides and isolates.
    /// Checks a display name given on the command line: not empty, and no control characters,
    /// line breaks or bidirectional overrides (others' terminals would show them as �).
    static func checkName(_ name: String?) throws {
        guard let name else { return }
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("--name must not be empty")
        }
        guard !name.unicodeScalars.contains(where: isUnsafe), !name.contains(where: \.isNewline) else {
            throw ValidationError("--name must be one line without control characters")
        }
    }

    static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00 ..< 0x20, 0x7F ... 0x9F, 0x202A ... 0x202E, 0x2066 ... 0x2069: true
        default: false
        }
    }
}

/// An audit trail as RFC 4180 CSV that user-written text (display names, link labels) can
/// neither break nor turn into a spreadsheet formula.
///
/// Format: one header row `time,action,actor,actor_name,target,target_name,message,detail`, then
/// one row per entry; every row (the last too) ends in CRLF. A field holding `,` `"` CR or LF is
/// quoted, with quotes doubled, so embedded line breaks stay inside their field. Every field whose
/// first character is `=` `+` `-` `@` TAB or CR gets a leading apostrophe first (OWASP CSV
/// injection), so a spreadsheet shows it as text.
public enum AuditCSV {
    /// The header row's cells.
    public static let header = ["time", "action", "actor", "actor_name", "target", "target_name", "message", "detail"]

    /// `entries` as CSV. Keys are shown by `keyText` (default: 64 lower-case hex digits; the node
    /// passes its public-key text), names looked up in `names` (empty when unknown); a message is
    /// `<key text>@<counter>`.
    /// - Complexity: O(total length of the output).
    public static func render(_ entries: [AuditEntry], names: [ReplicaID: String],
                              keyText: (ReplicaID) -> String = { Hex.encode($0.bytes) }) -> String {
        var out = ""
        appendRow(header, to: &out)
        for entry in entries {
            let row = [
                isoTime(entry.at),
                entry.action.rawValue,
                keyText(entry.actor),
                names[entry.actor] ?? "",
                entry.target.map(keyText) ?? "",
                entry.target.flatMap { names[$0] } ?? "",
                entry.message.map { keyText($0.replica) + "@" + String($0.counter) } ?? "",
                entry.detail,
            ]
            appendRow(row, to: &out)
        }
        return out
    }

    /// One cell, neutralised and quoted as needed.
    /// - Complexity: O(length of `text`).
    public static func field(_ text: String) -> String {
        var text = text
        if let first = text.unicodeScalars.first, formulaStarts.contains(first) {
            text = "'" + text
        }
        guard text.utf8.contains(where: { $0 == comma || $0 == quote || $0 == cr || $0 == lf }) else { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            if scalar == "\"" { quoted.unicodeScalars.append("\"") }
            quoted.unicodeScalars.append(scalar)
        }
        quoted.unicodeScalars.append("\"")
        return quoted
    }

    /// `milliseconds` since the Unix epoch as ISO 8601 UTC with milliseconds: `2000-02-29T00:00:00.000Z`.
    /// Computed without Foundation (Howard Hinnant's civil-from-days).
    /// - Complexity: O(1).
    public static func isoTime(_ milliseconds: UInt64) -> String {
        let days = milliseconds / 86_400_000
        let inDay = milliseconds % 86_400_000
        let (year, month, day) = civil(fromDays: days)
        let hour = inDay / 3_600_000, minute = inDay / 60_000 % 60, second = inDay / 1000 % 60, milli = inDay % 1000
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(hour, 2) + ":" + pad(minute, 2) + ":"
            + pad(second, 2) + "." + pad(milli, 3) + "Z"
    }

    /// The proleptic Gregorian date `days` after 1970-01-01 (unsigned: the epoch or later).
    static func civil(fromDays days: UInt64) -> (year: UInt64, month: UInt64, day: UInt64) {
        let z = days + 719_468                                   // days since 0000-03-01
        let era = z / 146_097                                    // 400-year eras
        let dayOfEra = z - era * 146_097                         // [0, 146096]
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365  // [0, 399]
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // [0, 365], from March 1
        let shiftedMonth = (5 * dayOfYear + 2) / 153             // [0, 11], March = 0
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1   // [1, 31]
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static let formulaStarts: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\t", "\r"]
    private static let comma = UInt8(ascii: ","), quote = UInt8(ascii: "\""), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")

    private static func appendRow(_ cells: [String], to out: inout String) {
        for (index, cell) in cells.enumerated() {
            if index > 0 { out += "," }
            out += field(cell)
        }
        out += "\r\n"
    }

    private static func pad(_ value: UInt64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

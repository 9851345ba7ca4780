/// "FILE: error" for a command's one error line, without naming FILE twice when the error
/// already starts with it (a FileError does: `/dev/zero: cannot read (a character device, …)`).
func about(_ file: String, _ error: any Error) -> String {
    let text = "\(error)"
    return text.hasPrefix(file + ":") ? text : file + ": " + text
}

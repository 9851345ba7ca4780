/// Vigil's version, printed by `vigil --version` and recorded in audit and hit records.
public enum VigilVersion {
    public static let string = "0.1.0"
}

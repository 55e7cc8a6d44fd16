namespace Levee.Broker;

/// <summary>
/// A setting that must not reach a log line (a key password): its <see cref="ToString"/> hides it, so printing the
/// options record that holds it does not show it.
/// </summary>
/// <param name="Value">The secret itself.</param>
public sealed record SecretText(string Value)
{
    /// <inheritdoc />
    public override string ToString() => "[hidden]";
}

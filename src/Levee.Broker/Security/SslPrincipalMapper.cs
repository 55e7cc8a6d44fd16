using System.Formats.Asn1;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;

namespace Levee.Broker.Security;

/// <summary>
/// The name of a TLS client's principal from its certificate's subject, by Kafka's <c>ssl.principal.mapping.rules</c>:
/// a list of <c>RULE:pattern/replacement/</c> (optionally followed by <c>L</c> or <c>U</c> to lower or upper case the
/// result) and <c>DEFAULT</c> (the distinguished name as it is), separated by commas or new lines. The first rule whose
/// pattern matches the whole DN (in RFC 2253 form, <c>CN=alice,OU=eng,O=Acme</c>) gives the name; when none matches,
/// the client is refused, as Kafka refuses it. Patterns and replacements are .NET regular expressions (<c>$1</c> for a
/// group), which agree with Java's for what these rules use.
/// </summary>
public sealed class SslPrincipalMapper
{
    private readonly IReadOnlyList<Rule> _rules;

    private SslPrincipalMapper(IReadOnlyList<Rule> rules) => _rules = rules;

    /// <summary>The rules when none are configured: the DN as it is.</summary>
    public static SslPrincipalMapper Default { get; } = new([Rule.Default]);

    /// <summary>Parses <paramref name="rules"/> in Kafka's syntax; null or blank is <see cref="Default"/>.</summary>
    /// <exception cref="BrokerConfigurationException">A rule is malformed or its pattern is not a regular expression.</exception>
    public static SslPrincipalMapper Parse(string? rules)
    {
        if (string.IsNullOrWhiteSpace(rules))
        {
            return Default;
        }

        var parsed = new List<Rule>();
        var rest = rules.AsSpan().Trim();
        while (!rest.IsEmpty)
        {
            parsed.Add(ReadRule(ref rest, rules));
            rest = rest.TrimStart(" \t\r");
            if (!rest.IsEmpty)
            {
                if (rest[0] is not (',' or '\n'))
                {
                    throw new BrokerConfigurationException($"ssl.principal.mapping.rules: expected ',' or a new line after a rule at '{rest}' in '{rules}'.");
                }

                rest = rest[1..].TrimStart();
            }
        }

        return new SslPrincipalMapper(parsed);
    }

    /// <summary>
    /// The principal name for <paramref name="distinguishedName"/> (RFC 2253 form), or null when no rule matches it.
    /// </summary>
    public string? Map(string distinguishedName)
    {
        ArgumentNullException.ThrowIfNull(distinguishedName);
        foreach (var rule in _rules)
        {
            if (rule.Apply(distinguishedName) is { } name)
            {
                return name;
            }
        }

        return null;
    }

    /// <summary>
    /// <paramref name="name"/> in RFC 2253 form, as Java's <c>X500Principal.getName()</c> writes it and Kafka's rules
    /// see it: most specific first, no spaces around separators, the RFC's keywords (CN, L, ST, O, OU, C, STREET, DC,
    /// UID) and any other attribute as its OID with the value's DER encoding in hex (<c>1.2.840.113549.1.9.1=#16...</c>).
    /// </summary>
    public static string Rfc2253(X500DistinguishedName name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var text = new StringBuilder();
        foreach (var rdn in name.EnumerateRelativeDistinguishedNames(reversed: true))
        {
            if (text.Length > 0)
            {
                text.Append(',');
            }

            var first = true;
            foreach (var (oid, der) in ReadAttributes(rdn.RawData))
            {
                if (!first)
                {
                    text.Append('+');
                }

                first = false;
                if (Keywords.TryGetValue(oid, out var keyword) && TryReadString(der, out var value))
                {
                    text.Append(keyword).Append('=');
                    AppendEscaped(text, value);
                }
                else
                {
                    text.Append(oid).Append("=#").Append(Convert.ToHexStringLower(der));
                }
            }
        }

        return text.ToString();
    }

    private static readonly Dictionary<string, string> Keywords = new(StringComparer.Ordinal)
    {
        ["2.5.4.3"] = "CN",
        ["2.5.4.7"] = "L",
        ["2.5.4.8"] = "ST",
        ["2.5.4.10"] = "O",
        ["2.5.4.11"] = "OU",
        ["2.5.4.6"] = "C",
        ["2.5.4.9"] = "STREET",
        ["0.9.2342.19200300.100.1.25"] = "DC",
        ["0.9.2342.19200300.100.1.1"] = "UID",
    };

    /// <summary>The (type, DER value) pairs of one RDN: a SET OF AttributeTypeAndValue.</summary>
    private static List<(string Oid, byte[] Der)> ReadAttributes(ReadOnlyMemory<byte> rdn)
    {
        var attributes = new List<(string, byte[])>();
        var set = new AsnReader(rdn, AsnEncodingRules.DER).ReadSetOf();
        while (set.HasData)
        {
            var pair = set.ReadSequence();
            attributes.Add((pair.ReadObjectIdentifier(), pair.ReadEncodedValue().ToArray()));
        }

        return attributes;
    }

    private static bool TryReadString(byte[] der, out string value)
    {
        var reader = new AsnReader(der, AsnEncodingRules.DER);
        var tag = reader.PeekTag();
        if (tag.TagClass == TagClass.Universal && Enum.IsDefined((UniversalTagNumber)tag.TagValue)
            && (UniversalTagNumber)tag.TagValue is UniversalTagNumber.UTF8String or UniversalTagNumber.PrintableString
                or UniversalTagNumber.IA5String or UniversalTagNumber.BMPString or UniversalTagNumber.T61String)
        {
            value = reader.ReadCharacterString((UniversalTagNumber)tag.TagValue);
            return true;
        }

        value = string.Empty;
        return false;
    }

    /// <summary>RFC 2253 section 2.4: special characters, and a leading '#' or space or a trailing space, behind a backslash.</summary>
    private static void AppendEscaped(StringBuilder text, string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is ',' or '+' or '"' or '\\' or '<' or '>' or ';' || (i == 0 && c is '#' or ' ') || (i == value.Length - 1 && c == ' '))
            {
                text.Append('\\');
            }

            text.Append(c);
        }
    }

    /// <summary>Reads one rule from the front of <paramref name="rest"/>: DEFAULT, or RULE:pattern/replacement/[LU].</summary>
    private static Rule ReadRule(ref ReadOnlySpan<char> rest, string all)
    {
        if (rest.StartsWith("DEFAULT", StringComparison.Ordinal))
        {
            rest = rest["DEFAULT".Length..];
            return Rule.Default;
        }

        if (!rest.StartsWith("RULE:", StringComparison.Ordinal))
        {
            throw new BrokerConfigurationException($"ssl.principal.mapping.rules: '{rest}' is neither DEFAULT nor RULE:pattern/replacement/[LU] (in '{all}').");
        }

        rest = rest["RULE:".Length..];
        var pattern = ReadPart(ref rest, all);
        var replacement = ReadPart(ref rest, all);
        var casing = !rest.IsEmpty && rest[0] is 'L' or 'U' ? rest[0] : ' ';
        if (casing != ' ')
        {
            rest = rest[1..];
        }

        try
        {
            return new Rule(new Regex(pattern, RegexOptions.CultureInvariant), new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant), replacement, casing);
        }
        catch (ArgumentException ex)
        {
            throw new BrokerConfigurationException($"ssl.principal.mapping.rules: '{pattern}' is not a regular expression: {ex.Message}", ex);
        }
    }

    /// <summary>Reads up to the next unescaped '/' and consumes it; "\/" stands for '/', any other escape is kept for the regex.</summary>
    private static string ReadPart(ref ReadOnlySpan<char> rest, string all)
    {
        var part = new StringBuilder();
        for (var i = 0; i < rest.Length; i++)
        {
            if (rest[i] == '\\' && i + 1 < rest.Length)
            {
                if (rest[i + 1] != '/')
                {
                    part.Append('\\');
                }

                part.Append(rest[++i]);
            }
            else if (rest[i] == '/')
            {
                rest = rest[(i + 1)..];
                return part.ToString();
            }
            else
            {
                part.Append(rest[i]);
            }
        }

        throw new BrokerConfigurationException($"ssl.principal.mapping.rules: a RULE needs pattern/replacement/ (in '{all}').");
    }

    private sealed record Rule(Regex? Pattern, Regex? WholeMatch, string Replacement, char Casing)
    {
        public static Rule Default { get; } = new(null, null, "", ' ');

        public string? Apply(string distinguishedName)
        {
            if (Pattern is null || WholeMatch is null)
            {
                return distinguishedName;
            }

            if (!WholeMatch.IsMatch(distinguishedName))
            {
                return null;
            }

            var name = Pattern.Replace(distinguishedName, Replacement);
            return Casing switch
            {
                'L' => name.ToLower(CultureInfo.InvariantCulture),
                'U' => name.ToUpper(CultureInfo.InvariantCulture),
                _ => name,
            };
        }
    }
}

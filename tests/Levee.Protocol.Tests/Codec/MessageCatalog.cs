using System.Reflection;
using Levee.Protocol.Messages;

namespace Levee.Protocol.Tests.Codec;

/// <summary>Every generated top-level message type and its version range, found through reflection.</summary>
internal static class MessageCatalog
{
    public static IReadOnlyList<Type> MessageTypes { get; } =
        [.. typeof(ApiKey).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(ApiKey).Namespace && t.IsClass && !t.IsNested
                && t.GetInterfaces().Contains(typeof(IKafkaMessage)))
            .OrderBy(t => t.Name, StringComparer.Ordinal)];

    public static short LowestVersion(Type type) => Constant(type, "LowestVersion");

    public static short HighestVersion(Type type) => Constant(type, "HighestVersion");

    private static short Constant(Type type, string name) =>
        (short)type.GetField(name, BindingFlags.Public | BindingFlags.Static)!.GetRawConstantValue()!;
}

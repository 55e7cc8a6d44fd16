using System.Collections;
using System.Reflection;
using Levee.Protocol.Messages;

namespace Levee.Protocol.Tests.Codec;

/// <summary>
/// Fills generated message objects with random values through reflection. Null goes only into
/// properties declared nullable, and never into the (class, property) pairs in <see cref="NoNull"/>:
/// fields nullable in some versions but not the one under test, learned from the writer's refusal.
/// </summary>
internal sealed class RandomMessageFiller(Random random)
{
    private static readonly NullabilityInfoContext Nullability = new();
    private static readonly string[] Words = ["", "a", "topic-1", "Ünïcødé ✓", "group.with.dots", "x"];

    public HashSet<string> NoNull { get; } = [];

    public object Fill(Type type, int depth = 0)
    {
        var instance = Activator.CreateInstance(type)!;
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (!property.CanWrite)
            {
                continue;
            }

            var mayBeNull = Nullability.Create(property).WriteState == NullabilityState.Nullable
                && !NoNull.Contains($"{type.Name}.{property.Name}");
            property.SetValue(instance, Value(property.PropertyType, mayBeNull, depth));
        }

        return instance;
    }

    private object? Value(Type type, bool mayBeNull, int depth)
    {
        if (mayBeNull && random.Next(5) == 0)
        {
            return null;
        }

        if (type == typeof(sbyte))
        {
            return (sbyte)random.Next(sbyte.MinValue, sbyte.MaxValue + 1);
        }

        if (type == typeof(short))
        {
            return (short)random.Next(short.MinValue, short.MaxValue + 1);
        }

        if (type == typeof(ushort))
        {
            return (ushort)random.Next(ushort.MaxValue + 1);
        }

        if (type == typeof(int))
        {
            return random.Next(4) == 0 ? -1 : random.Next(int.MinValue, int.MaxValue);
        }

        if (type == typeof(uint))
        {
            return (uint)random.NextInt64(uint.MaxValue + 1L);
        }

        if (type == typeof(long))
        {
            return random.Next(4) == 0 ? -1L : random.NextInt64(long.MinValue, long.MaxValue);
        }

        if (type == typeof(double))
        {
            return (random.NextDouble() - 0.5) * 1e6;
        }

        if (type == typeof(bool))
        {
            return random.Next(2) == 0;
        }

        if (type == typeof(Guid))
        {
            if (random.Next(4) == 0)
            {
                return Guid.Empty;
            }

            Span<byte> bytes = stackalloc byte[16];
            random.NextBytes(bytes);
            return new Guid(bytes);
        }

        if (type == typeof(string))
        {
            return Words[random.Next(Words.Length)];
        }

        if (type == typeof(byte[]))
        {
            return RandomBytes();
        }

        if (type == typeof(ReadOnlyMemory<byte>?) || type == typeof(ReadOnlyMemory<byte>))
        {
            return new ReadOnlyMemory<byte>(RandomBytes());
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            var elementType = type.GetGenericArguments()[0];
            var list = (IList)Activator.CreateInstance(type)!;
            var count = depth > 4 ? 0 : random.Next(4);
            for (var i = 0; i < count; i++)
            {
                list.Add(Value(elementType, mayBeNull: false, depth + 1));
            }

            return list;
        }

        if (type.IsClass && type.Namespace == typeof(ApiKey).Namespace)
        {
            return Fill(type, depth + 1);
        }

        throw new NotSupportedException($"No random values for {type}.");
    }

    private byte[] RandomBytes()
    {
        var bytes = new byte[random.Next(12)];
        random.NextBytes(bytes);
        return bytes;
    }
}

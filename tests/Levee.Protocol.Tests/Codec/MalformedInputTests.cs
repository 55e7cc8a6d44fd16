using System.Buffers;
using Levee.Protocol.Messages;

namespace Levee.Protocol.Tests.Codec;

/// <summary>
/// Bytes from the network are hostile: random, truncated or corrupted input must only ever raise
/// <see cref="KafkaProtocolException"/>, and must not hang.
/// </summary>
public class MalformedInputTests
{
    private delegate void ReadAction(ref KafkaReader reader, short version);

    public static TheoryData<string> Targets() => ["ProduceRequest", "FetchRequest", "MetadataRequest", "ApiVersionsRequest", "RequestHeader"];

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task RandomTruncatedAndCorruptedBytes_OnlyThrowKafkaProtocolException(string target)
    {
        var (lowest, highest, read, sample) = Describe(target);
        var random = new Random(target.Length * 7919);
        var fuzz = Task.Run(() =>
        {
            for (var version = lowest; version <= highest; version++)
            {
                // Pure noise of assorted lengths.
                for (var i = 0; i < 300; i++)
                {
                    var noise = new byte[random.Next(0, 96)];
                    random.NextBytes(noise);
                    AssertOnlyProtocolErrors(read, noise, version, target);
                }

                // Every prefix of a valid encoding, then corrupted copies of it.
                for (var sampleIndex = 0; sampleIndex < 5; sampleIndex++)
                {
                    var valid = sample(random, version);
                    for (var length = 0; length < valid.Length; length++)
                    {
                        AssertOnlyProtocolErrors(read, valid.AsSpan(0, length).ToArray(), version, target);
                    }

                    for (var i = 0; i < 200; i++)
                    {
                        var corrupted = (byte[])valid.Clone();
                        for (var flips = random.Next(1, 4); flips > 0 && corrupted.Length > 0; flips--)
                        {
                            corrupted[random.Next(corrupted.Length)] = (byte)random.Next(256);
                        }

                        AssertOnlyProtocolErrors(read, corrupted, version, target);
                    }
                }
            }
        });
        await fuzz.WaitAsync(TimeSpan.FromSeconds(120));
    }

    [Fact]
    public void HugeArrayCount_IsRejectedBeforeAllocating()
    {
        // ProduceRequest v0: Acks, TimeoutMs, then an array count of int.MaxValue with nothing behind it.
        var bytes = Convert.FromHexString("0001" + "00001388" + "7FFFFFFF");
        var ex = Assert.Throws<KafkaProtocolException>(() =>
        {
            var reader = new KafkaReader(bytes);
            ProduceRequest.Read(ref reader, 0);
        });
        Assert.Contains("exceeds", ex.Message, StringComparison.Ordinal);
    }

    private static void AssertOnlyProtocolErrors(ReadAction read, byte[] bytes, short version, string target)
    {
        try
        {
            var reader = new KafkaReader(bytes);
            read(ref reader, version);
        }
        catch (KafkaProtocolException)
        {
        }
        catch (Exception ex)
        {
            Assert.Fail($"{target} v{version} threw {ex.GetType().Name} for {Convert.ToHexString(bytes)}: {ex}");
        }
    }

    private static (short Lowest, short Highest, ReadAction Read, Func<Random, short, byte[]> Sample) Describe(string target) => target switch
    {
        "ProduceRequest" => (ProduceRequest.LowestVersion, ProduceRequest.HighestVersion, (ref KafkaReader r, short v) => ProduceRequest.Read(ref r, v), Sample<ProduceRequest>),
        "FetchRequest" => (FetchRequest.LowestVersion, FetchRequest.HighestVersion, (ref KafkaReader r, short v) => FetchRequest.Read(ref r, v), Sample<FetchRequest>),
        "MetadataRequest" => (MetadataRequest.LowestVersion, MetadataRequest.HighestVersion, (ref KafkaReader r, short v) => MetadataRequest.Read(ref r, v), Sample<MetadataRequest>),
        "ApiVersionsRequest" => (ApiVersionsRequest.LowestVersion, ApiVersionsRequest.HighestVersion, (ref KafkaReader r, short v) => ApiVersionsRequest.Read(ref r, v), Sample<ApiVersionsRequest>),
        "RequestHeader" => (RequestHeader.LowestVersion, RequestHeader.HighestVersion, (ref KafkaReader r, short v) => RequestHeader.Read(ref r, v), Sample<RequestHeader>),
        _ => throw new ArgumentOutOfRangeException(nameof(target)),
    };

    private static byte[] Sample<T>(Random random, short version)
        where T : class, IKafkaMessage<T>
    {
        var filler = new RandomMessageFiller(random);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var buffer = new ArrayBufferWriter<byte>();
                var writer = new KafkaWriter(buffer);
                ((T)filler.Fill(typeof(T))).Write(ref writer, version);
                return buffer.WrittenSpan.ToArray();
            }
            catch (KafkaProtocolException ex) when (attempt < 50)
            {
                var end = ex.Message.IndexOf(" is null", StringComparison.Ordinal);
                if (end > 0)
                {
                    filler.NoNull.Add(ex.Message[..end]);
                }
            }
        }
    }
}

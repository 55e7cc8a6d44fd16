using Levee.Protocol.Messages;

namespace Levee.Protocol.Tests.Codec;

/// <summary>Encodings computed by hand from Kafka's specs and protocol guide.</summary>
public class GoldenBytesTests
{
    private static KafkaReader Reader(string hex) => new(Convert.FromHexString(hex));

    [Fact]
    public void ApiVersionsRequestV3_UsesCompactStringsAndAnEmptyTagSection()
    {
        var request = new ApiVersionsRequest { ClientSoftwareName = "x", ClientSoftwareVersion = "1" };
        // compact string "x" = length+1 (02) 'x'; compact "1" = 02 '1'; no tagged fields = 00.
        Assert.Equal("0278023100", Convert.ToHexString(MessageRoundTripTests.Write(request, 3)));
    }

    [Fact]
    public void ApiVersionsRequestV0_HasNoBody()
    {
        var request = new ApiVersionsRequest { ClientSoftwareName = "x", ClientSoftwareVersion = "1" };
        Assert.Empty(MessageRoundTripTests.Write(request, 0));
    }

    [Fact]
    public void RequestHeaderV2_KeepsAClassicClientIdThenATagSection()
    {
        var header = new RequestHeader { RequestApiKey = 18, RequestApiVersion = 3, CorrelationId = 7, ClientId = "abc" };
        const string expected = "0012" + "0003" + "00000007" + "0003616263" + "00";
        Assert.Equal(expected, Convert.ToHexString(MessageRoundTripTests.Write(header, 2)));

        var reader = Reader(expected);
        var read = RequestHeader.Read(ref reader, 2);
        Assert.Equal((18, 3, 7, "abc"), (read.RequestApiKey, read.RequestApiVersion, read.CorrelationId, read.ClientId));
        Assert.Equal(0, reader.Remaining);
    }

    [Fact]
    public void RequestHeaderV1_WritesNullClientIdAsMinusOne()
    {
        var header = new RequestHeader { RequestApiKey = 3, RequestApiVersion = 1, CorrelationId = -1, ClientId = null };
        Assert.Equal("0003" + "0001" + "FFFFFFFF" + "FFFF", Convert.ToHexString(MessageRoundTripTests.Write(header, 1)));
    }

    [Fact]
    public void RequestHeaderV0_HasNoClientId()
    {
        var header = new RequestHeader { RequestApiKey = 7, RequestApiVersion = 0, CorrelationId = 1, ClientId = "ignored" };
        Assert.Equal("0007" + "0000" + "00000001", Convert.ToHexString(MessageRoundTripTests.Write(header, 0)));
    }

    [Fact]
    public void ApiVersionsResponseV3_WritesOnlyNonDefaultTaggedFields()
    {
        var response = new ApiVersionsResponse { ErrorCode = 0, ThrottleTimeMs = 0, FinalizedFeaturesEpoch = 5 };
        response.ApiKeys.Add(new ApiVersionsResponse.ApiVersion { ApiKey = 18, MinVersion = 0, MaxVersion = 4 });
        const string expected =
            "0000" // ErrorCode
            + "02" + "0012" + "0000" + "0004" + "00" // ApiKeys: one element, then its empty tag section
            + "00000000" // ThrottleTimeMs
            + "01" + "01" + "08" + "0000000000000005"; // one tagged field: tag 1, 8 bytes, FinalizedFeaturesEpoch
        Assert.Equal(expected, Convert.ToHexString(MessageRoundTripTests.Write(response, 3)));

        var reader = Reader(expected);
        var read = ApiVersionsResponse.Read(ref reader, 3);
        Assert.Equal(5, read.FinalizedFeaturesEpoch);
        Assert.False(read.ZkMigrationReady);
        Assert.Empty(read.SupportedFeatures);
        Assert.Equal(18, Assert.Single(read.ApiKeys).ApiKey);
    }

    [Fact]
    public void UnknownTaggedFields_AreSkipped()
    {
        // ApiVersionsRequest v3 with one tagged field the spec does not know: tag 5, two bytes.
        var reader = Reader("02780231" + "01" + "05" + "02" + "ABCD");
        var request = ApiVersionsRequest.Read(ref reader, 3);
        Assert.Equal(("x", "1"), (request.ClientSoftwareName, request.ClientSoftwareVersion));
        Assert.Equal(0, reader.Remaining);
        Assert.Equal("0278023100", Convert.ToHexString(MessageRoundTripTests.Write(request, 3)));
    }

    [Fact]
    public void KnownTaggedField_WhoseDeclaredSizeIsWrong_Throws()
    {
        // FinalizedFeaturesEpoch (tag 1, int64) declared as 9 bytes.
        Assert.Throws<KafkaProtocolException>(() =>
        {
            var reader = Reader("0000" + "01" + "00000000" + "01" + "01" + "09" + "000000000000000500");
            ApiVersionsResponse.Read(ref reader, 3);
        });
    }

    [Fact]
    public void SpecDefaults_AreApplied()
    {
        Assert.Equal(-1, new FetchRequest().ReplicaId);
        Assert.Equal(0x7fffffff, new FetchRequest().MaxBytes);
        Assert.Null(new FetchRequest().ClusterId);
        Assert.Equal(-1, new FetchResponse.PartitionData().LastStableOffset);
        Assert.Null(new FetchResponse.PartitionData().Records);
        Assert.Null(new FetchResponse.NodeEndpoint().Rack);
        Assert.Equal("", new ProduceRequest.TopicProduceData().Name);
        Assert.Empty(new ProduceRequest().TopicData);
        Assert.Equal(-1L, new ApiVersionsResponse().FinalizedFeaturesEpoch);
    }

    [Fact]
    public void ReadingOrWritingAnUnknownVersion_Throws()
    {
        Assert.Throws<KafkaProtocolException>(() => MessageRoundTripTests.Write(new ApiVersionsRequest(), (short)(ApiVersionsRequest.HighestVersion + 1)));
        Assert.Throws<KafkaProtocolException>(() =>
        {
            var reader = Reader("00");
            ApiVersionsRequest.Read(ref reader, -1);
        });
    }

    [Fact]
    public void ApiKeys_FollowKafkaNumbering()
    {
        Assert.Equal(0, (short)ApiKey.Produce);
        Assert.Equal(1, (short)ApiKey.Fetch);
        Assert.Equal(3, (short)ApiKey.Metadata);
        Assert.Equal(18, (short)ApiKey.ApiVersions);
        Assert.Equal(ApiKey.Produce, ProduceRequest.Key);
        Assert.Equal(ApiKey.Produce, ProduceResponse.Key);
        Assert.Equal(ApiKey.FindCoordinator, FindCoordinatorRequest.ApiKeyValue);
    }

    [Fact]
    public void ApiMessages_KnowsEveryRequestAndOnlyThose()
    {
        Assert.True(ApiMessages.IsKnown(0));
        Assert.True(ApiMessages.IsKnown(18));
        Assert.False(ApiMessages.IsKnown(-1));
        Assert.False(ApiMessages.IsKnown(short.MaxValue));
        foreach (var key in Enum.GetValues<ApiKey>())
        {
            Assert.True(ApiMessages.IsKnown((short)key));
            Assert.True(ApiMessages.LowestVersion(key) <= ApiMessages.HighestVersion(key));
        }
    }

    [Theory]
    [InlineData(ApiKey.Produce, 8, 1, 0)]
    [InlineData(ApiKey.Produce, 9, 2, 1)]
    [InlineData(ApiKey.Fetch, 11, 1, 0)]
    [InlineData(ApiKey.Fetch, 12, 2, 1)]
    [InlineData(ApiKey.Metadata, 9, 2, 1)]
    [InlineData(ApiKey.ApiVersions, 2, 1, 0)]
    [InlineData(ApiKey.ApiVersions, 3, 2, 0)] // KIP-511: ApiVersions responses always use header v0
    [InlineData(ApiKey.ControlledShutdown, 0, 0, 0)]
    [InlineData(ApiKey.ControlledShutdown, 1, 1, 0)]
    public void HeaderVersions_FollowFlexibleVersions(ApiKey key, short apiVersion, short requestHeader, short responseHeader)
    {
        Assert.Equal(requestHeader, ApiMessages.RequestHeaderVersion(key, apiVersion));
        Assert.Equal(responseHeader, ApiMessages.ResponseHeaderVersion(key, apiVersion));
    }
}

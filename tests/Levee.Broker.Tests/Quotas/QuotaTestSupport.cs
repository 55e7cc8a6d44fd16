using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tests.Quotas;

/// <summary>AlterClientQuotas and DescribeClientQuotas over a raw connection (no client library here serves them).</summary>
internal static class QuotaTestSupport
{
    /// <summary>Sets <paramref name="values"/> on the entity of <paramref name="parts"/>; returns the entry's error and message.</summary>
    public static async Task<(ErrorCode Error, string? Message)> SetQuotaAsync(string bootstrap, (string Type, string? Name)[] parts, params (string Key, double Value)[] values)
    {
        using var client = await RawKafkaClient.ConnectAsync(bootstrap);
        var response = await client.CallAsync<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, 1, Alter(parts, values));
        var entry = Assert.Single(response.Entries);
        return ((ErrorCode)entry.ErrorCode, entry.ErrorMessage);
    }

    public static AlterClientQuotasRequest Alter((string Type, string? Name)[] parts, (string Key, double Value)[] values, bool remove = false, bool validateOnly = false)
    {
        var entry = new AlterClientQuotasRequest.EntryData();
        entry.Entity.AddRange(parts.Select(p => new AlterClientQuotasRequest.EntityData { EntityType = p.Type, EntityName = p.Name }));
        entry.Ops.AddRange(values.Select(v => new AlterClientQuotasRequest.OpData { Key = v.Key, Value = v.Value, Remove = remove }));
        var request = new AlterClientQuotasRequest { ValidateOnly = validateOnly };
        request.Entries.Add(entry);
        return request;
    }

    /// <summary>The quotas of every entity, as DescribeClientQuotas with an empty, non-strict filter gives them.</summary>
    public static async Task<Dictionary<string, Dictionary<string, double>>> DescribeAllAsync(RawKafkaClient client, params DescribeClientQuotasRequest.ComponentData[] components)
    {
        var request = new DescribeClientQuotasRequest();
        request.Components.AddRange(components);
        var response = await client.CallAsync<DescribeClientQuotasResponse>(ApiKey.DescribeClientQuotas, 1, request);
        Assert.Equal(ErrorCode.None, (ErrorCode)response.ErrorCode);
        return response.Entries!.ToDictionary(
            e => string.Join(",", e.Entity.Select(p => $"{p.EntityType}={p.EntityName ?? "<default>"}")),
            e => e.Values.ToDictionary(v => v.Key, v => v.Value));
    }
}

using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// DescribeUserScramCredentials (v0): each user's mechanisms and iteration counts, never a key or salt. All users
/// when none is named; RESOURCE_NOT_FOUND for a user without credentials, DUPLICATE_RESOURCE for one named twice.
/// </summary>
[AuthorizeRequest(AclOperation.Describe, AclResourceType.Cluster)]
public sealed class DescribeUserScramCredentialsHandler(ReplicaManager replicas) : ApiHandler<DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DescribeUserScramCredentials;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 0;

    /// <inheritdoc />
    protected override DescribeUserScramCredentialsRequest Read(ref KafkaReader reader, short version) => DescribeUserScramCredentialsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DescribeUserScramCredentialsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<DescribeUserScramCredentialsResponse?> HandleAsync(RequestContext context, DescribeUserScramCredentialsRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var credentials = replicas.Image.ScramCredentials;
        var response = new DescribeUserScramCredentialsResponse { ErrorMessage = null };
        var named = request.Users is { Count: > 0 } users ? users.Select(u => u.Name).ToList() : [.. credentials.Keys.Select(k => k.User).Distinct(StringComparer.Ordinal)];
        var duplicated = named.GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        foreach (var user in named.Distinct(StringComparer.Ordinal))
        {
            var result = new DescribeUserScramCredentialsResponse.DescribeUserScramCredentialsResult { User = user, ErrorMessage = null };
            response.Results.Add(result);
            var infos = credentials.Where(c => c.Key.User == user).Select(c => new DescribeUserScramCredentialsResponse.CredentialInfo { Mechanism = (sbyte)c.Key.Mechanism, Iterations = c.Value.Iterations }).ToList();
            if (duplicated.Contains(user))
            {
                (result.ErrorCode, result.ErrorMessage) = ((short)ErrorCode.DuplicateResource, $"Cannot describe SCRAM credentials for the same user twice in a single request: {user}");
            }
            else if (infos.Count == 0)
            {
                (result.ErrorCode, result.ErrorMessage) = ((short)ErrorCode.ResourceNotFound, $"Attempt to describe a user credential that does not exist: {user}");
            }
            else
            {
                result.CredentialInfos = infos;
            }
        }

        return ValueTask.FromResult<DescribeUserScramCredentialsResponse?>(response);
    }

    /// <inheritdoc />
    protected override DescribeUserScramCredentialsResponse? ErrorResponse(DescribeUserScramCredentialsRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message };
}

using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// AlterUserScramCredentials (v0): sets and deletes users' SCRAM credentials. The client sends the salted password
/// (never the password); the controller keeps StoredKey and ServerKey derived from it. Each user is answered on its
/// own, as Kafka does: UNSUPPORTED_SASL_MECHANISM, UNACCEPTABLE_CREDENTIAL (iterations outside 4096-16384, an empty
/// name, salt or salted password), DUPLICATE_RESOURCE (a user named twice), RESOURCE_NOT_FOUND (deleting what is
/// not there). Decided by the controller; another broker forwards the request.
/// </summary>
[AuthorizeRequest(AclOperation.Alter, AclResourceType.Cluster)]
public sealed class AlterUserScramCredentialsHandler(ReplicaManager replicas, ControllerService controller) : ApiHandler<AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.AlterUserScramCredentials;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 0;

    /// <inheritdoc />
    protected override AlterUserScramCredentialsRequest Read(ref KafkaReader reader, short version) => AlterUserScramCredentialsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(AlterUserScramCredentialsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<AlterUserScramCredentialsResponse?> HandleAsync(RequestContext context, AlterUserScramCredentialsRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        if (!controller.IsActive)
        {
            return await replicas.ForwardToControllerAsync<AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse>(Key, context.ApiVersion, request, context.Aborted).ConfigureAwait(false)
                ?? ErrorResponse(request, ErrorCode.NotController, "No active controller is reachable right now; retry.");
        }

        var users = request.Deletions.Select(d => d.Name).Concat(request.Upsertions.Select(u => u.Name)).ToList();
        var duplicated = users.GroupBy(u => u, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        var errors = new Dictionary<string, (ErrorCode, string)>(StringComparer.Ordinal);
        var records = new List<(string User, MetadataRecord Record)>();
        foreach (var deletion in request.Deletions)
        {
            if (Problem(deletion.Name, deletion.Mechanism, duplicated) is { } problem)
            {
                errors.TryAdd(deletion.Name, problem);
                continue;
            }

            records.Add((deletion.Name, new RemoveUserScramCredentialRecord(deletion.Name, (ScramMechanism)deletion.Mechanism)));
        }

        foreach (var upsertion in request.Upsertions)
        {
            if (Problem(upsertion.Name, upsertion.Mechanism, duplicated) is { } problem)
            {
                errors.TryAdd(upsertion.Name, problem);
            }
            else if (upsertion.Iterations is < ScramFormatter.MinIterations or > ScramFormatter.MaxIterations)
            {
                errors.TryAdd(upsertion.Name, (ErrorCode.UnacceptableCredential, $"Iterations must be between {ScramFormatter.MinIterations} and {ScramFormatter.MaxIterations}."));
            }
            else if (upsertion.Salt.Length == 0 || upsertion.SaltedPassword.Length == 0)
            {
                errors.TryAdd(upsertion.Name, (ErrorCode.UnacceptableCredential, "Salt and salted password must not be empty."));
            }
            else
            {
                records.Add((upsertion.Name, ScramFormatter.FromSaltedPassword(upsertion.Name, (ScramMechanism)upsertion.Mechanism, upsertion.SaltedPassword, upsertion.Salt, upsertion.Iterations)));
            }
        }

        var decision = await controller.DecideAsync(
            image =>
            {
                var accepted = new List<MetadataRecord>();
                foreach (var (user, record) in records)
                {
                    if (record is RemoveUserScramCredentialRecord removal && !image.ScramCredentials.ContainsKey(new ScramCredentialKey(removal.Name, removal.Mechanism)))
                    {
                        errors.TryAdd(user, (ErrorCode.ResourceNotFound, "Attempt to delete a user credential that does not exist."));
                    }
                    else
                    {
                        accepted.Add(record);
                    }
                }

                return Decision.Commit(accepted);
            },
            context.Aborted).ConfigureAwait(false);

        var response = new AlterUserScramCredentialsResponse();
        foreach (var user in users.Distinct(StringComparer.Ordinal))
        {
            var (error, message) = errors.TryGetValue(user, out var e) ? e : (decision.Error, decision.Message);
            response.Results.Add(new AlterUserScramCredentialsResponse.AlterUserScramCredentialsResult { User = user, ErrorCode = (short)error, ErrorMessage = error == ErrorCode.None ? null : message });
        }

        return response;
    }

    /// <inheritdoc />
    protected override AlterUserScramCredentialsResponse? ErrorResponse(AlterUserScramCredentialsRequest request, ErrorCode error, string? message)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new AlterUserScramCredentialsResponse();
        foreach (var user in request.Deletions.Select(d => d.Name).Concat(request.Upsertions.Select(u => u.Name)).Distinct(StringComparer.Ordinal))
        {
            response.Results.Add(new AlterUserScramCredentialsResponse.AlterUserScramCredentialsResult { User = user, ErrorCode = (short)error, ErrorMessage = message });
        }

        return response;
    }

    private static (ErrorCode, string)? Problem(string user, sbyte mechanism, HashSet<string> duplicated) =>
        string.IsNullOrEmpty(user) ? (ErrorCode.UnacceptableCredential, "Username must not be empty.")
        : duplicated.Contains(user) ? (ErrorCode.DuplicateResource, "A user credential cannot be altered twice in the same request.")
        : mechanism is not ((sbyte)ScramMechanism.ScramSha256 or (sbyte)ScramMechanism.ScramSha512) ? (ErrorCode.UnsupportedSaslMechanism, "Unknown SCRAM mechanism.")
        : null;
}

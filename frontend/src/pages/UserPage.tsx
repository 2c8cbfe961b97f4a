import { useParams } from "react-router-dom";
import { useQuery } from "urql";
import { UserPageDocument } from "../gql/graphql";
import { CrateList, Empty, ErrorState, Loading } from "../components";
import { formatDate } from "../lib/versions";

export default function UserPage() {
  const { login = "" } = useParams();
  const [{ data, fetching, error }] = useQuery({ query: UserPageDocument, variables: { login } });
  if (fetching && !data) return <Loading what={`user ${login}`} />;
  if (error) return <ErrorState error={error} />;
  const user = data?.user;
  if (!user) {
    return (
      <section>
        <h1>{login}</h1>
        <Empty>There is no user “{login}”.</Empty>
      </section>
    );
  }
  return (
    <section aria-labelledby="user-title">
      <h1 id="user-title">{user.name ? `${user.name} (${user.login})` : user.login}</h1>
      <p className="muted">
        {user.role === "ADMIN" ? "Administrator" : "Member"} since {formatDate(user.createdAt)}
        {user.disabled && " · account disabled"}
        {user.email && ` · ${user.email}`}
      </p>
      <h2>Crates</h2>
      {user.crates.length === 0 ? (
        <Empty>{user.login} owns no crate.</Empty>
      ) : (
        <CrateList crates={user.crates} />
      )}
    </section>
  );
}

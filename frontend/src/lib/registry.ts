import { useQuery } from "urql";
import { RegistryInfoDocument } from "../gql/graphql";

/** The name users give this registry in their cargo configuration, and its index URL. */
export function useRegistry(): { name: string; indexUrl: string } {
  const [{ data }] = useQuery({ query: RegistryInfoDocument });
  return {
    name: data?.registry.registryName ?? "raktar",
    indexUrl: data?.registry.indexUrl ?? `sparse+${window.location.origin}/index/`,
  };
}

import { useQuery } from "@tanstack/react-query";
import { api, domainCodeOf } from "./api.ts";
import { sessionQueries } from "./first-view.ts";

/** The logged-in account, or null for a visitor (an unknown or expired cookie is a visitor). */
export function useMe() {
  return useQuery({
    queryKey: sessionQueries.me.key,
    queryFn: async () => {
      try {
        return await api.identity.me.query();
      } catch (error) {
        if (domainCodeOf(error) === "UNAUTHENTICATED") return null;
        throw error;
      }
    },
    staleTime: 60_000,
  });
}

/* oci.c - placeholder */

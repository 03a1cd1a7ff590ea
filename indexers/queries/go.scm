; Definitions (methods get their receiver type from the `qualifier` hook)
(function_declaration name: (identifier) @name) @definition.function
(method_declaration name: (field_identifier) @name) @definition.method
(type_spec name: (type_identifier) @name type: (struct_type)) @definition.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @definition.interface
(type_spec name: (type_identifier) @name type: [
  (type_identifier) (qualified_type) (generic_type) (pointer_type) (slice_type) (array_type)
  (map_type) (channel_type) (function_type)]) @definition.type
(type_alias name: (type_identifier) @name) @definition.type
(source_file (const_declaration (const_spec name: (identifier) @name) @definition.constant))
(interface_type (method_elem name: (field_identifier) @name) @definition.method)

; References
(call_expression function: [(identifier) (selector_expression)] @reference.call)
; Store{...} builds a value of the type, as a constructor call would
(composite_literal type: [(type_identifier) (qualified_type)] @reference.call)
; Embedded fields and embedded interfaces
(field_declaration_list (field_declaration !name type: [(type_identifier) (qualified_type)] @reference.inherit))
(field_declaration_list (field_declaration !name type: (generic_type type: [(type_identifier) (qualified_type)] @reference.inherit)))
(interface_type (type_elem . [(type_identifier) (qualified_type)] @reference.inherit .))

; Imports
(import_declaration) @import
